//! A token's claims, as far as access control reads them.

use std::collections::HashMap;

use serde::Deserialize;

use crate::auth::access::{Access, Resource};

/// What a verified token says.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    pub issuer: String,
    pub subject: String,
    pub audience: Vec<String>,
    pub expires_at: i64,
    pub not_before: i64,
    /// (type, name) → actions, from the `access` claim.
    access: HashMap<(String, String), Vec<String>>,
}

#[derive(Deserialize)]
struct RawClaims {
    #[serde(default)]
    iss: String,
    #[serde(default)]
    sub: String,
    #[serde(default)]
    aud: Audience,
    // A missing `exp` is 0, long expired, as in the reference.
    #[serde(default)]
    exp: f64,
    #[serde(default)]
    nbf: f64,
    #[serde(default)]
    access: Vec<ResourceActions>,
}

/// `aud` is a string in the Docker token spec and may be a list in RFC 7519.
#[derive(Deserialize, Default)]
#[serde(untagged)]
enum Audience {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct ResourceActions {
    #[serde(rename = "type")]
    kind: String,
    name: String,
    #[serde(default)]
    actions: Vec<String>,
}

impl Claimed {
    pub fn parse(json: &[u8]) -> Result<Claimed, String> {
        let raw: RawClaims = serde_json::from_slice(json).map_err(|e| format!("claims: {e}"))?;
        let mut access: HashMap<(String, String), Vec<String>> = HashMap::new();
        for entry in raw.access {
            access
                .entry((entry.kind, entry.name))
                .or_default()
                .extend(entry.actions);
        }
        Ok(Claimed {
            issuer: raw.iss,
            subject: raw.sub,
            audience: match raw.aud {
                Audience::None => Vec::new(),
                Audience::One(aud) => vec![aud],
                Audience::Many(list) => list,
            },
            expires_at: raw.exp as i64,
            not_before: raw.nbf as i64,
            access,
        })
    }

    /// Whether the `access` claim grants `access` (an action of `*` grants every action).
    pub fn allows(&self, access: &Access) -> bool {
        let key = (
            access.resource.kind().to_owned(),
            match &access.resource {
                Resource::Repository(name) => name.clone(),
                Resource::Catalog => "catalog".to_owned(),
            },
        );
        self.access.get(&key).is_some_and(|actions| {
            actions
                .iter()
                .any(|a| a == "*" || a == access.action.as_str())
        })
    }

    /// Still usable at `now` (Unix seconds), with `leeway`.
    pub fn is_current(&self, now: i64, leeway: i64) -> bool {
        now <= self.expires_at + leeway && now >= self.not_before - leeway
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::access::Action;

    #[test]
    fn reads_the_access_claim() {
        let claimed = Claimed::parse(
            br#"{"iss":"i","sub":"alice","aud":["x","svc"],"exp":100,"nbf":10,
                "access":[{"type":"repository","name":"a/b","actions":["pull"]},
                          {"type":"repository","name":"a/b","actions":["push"]},
                          {"type":"repository","name":"c","actions":["*"]},
                          {"type":"registry","name":"catalog","actions":["*"]}]}"#,
        )
        .unwrap();
        assert_eq!(claimed.audience, ["x", "svc"]);
        assert!(claimed.allows(&Access::repository("a/b", Action::Pull)));
        assert!(claimed.allows(&Access::repository("a/b", Action::Push)));
        assert!(!claimed.allows(&Access::repository("a/b", Action::Delete)));
        assert!(claimed.allows(&Access::repository("c", Action::Delete)));
        assert!(!claimed.allows(&Access::repository("a", Action::Pull)));
        assert!(claimed.allows(&Access::catalog()));
        assert!(claimed.is_current(50, 0) && !claimed.is_current(101, 0));
        assert!(claimed.is_current(160, 60) && !claimed.is_current(161, 60));
    }

    #[test]
    fn missing_claims_default_like_the_reference() {
        let claimed = Claimed::parse(br#"{"aud":"svc"}"#).unwrap();
        assert_eq!(claimed.audience, ["svc"]);
        assert_eq!(claimed.expires_at, 0);
        assert!(!claimed.allows(&Access::catalog()));
        assert!(Claimed::parse(b"\"claims\"").is_err());
        assert!(Claimed::parse(br#"{"exp":"soon"}"#).is_err());
    }
}

//! The `Authorization` header, parsed. Nothing here is logged: it holds secrets.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// What a request presents.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// No `Authorization` header, or Basic with an empty user and password (what
    /// containers/image sends when it has no credentials for a Basic challenge).
    Anonymous,
    Basic {
        user: String,
        password: String,
    },
    Bearer(String),
    /// A header that is neither well-formed Basic nor Bearer.
    Malformed,
}

// Credentials must never reach a log line through `{:?}`.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Anonymous => f.write_str("Anonymous"),
            Credentials::Basic { user, .. } => write!(f, "Basic({user:?}, <redacted>)"),
            Credentials::Bearer(_) => f.write_str("Bearer(<redacted>)"),
            Credentials::Malformed => f.write_str("Malformed"),
        }
    }
}

impl Credentials {
    /// Reads the `Authorization` header's value (`None` when absent, or not visible ASCII).
    pub fn parse(header: Option<&[u8]>) -> Credentials {
        let Some(header) = header else {
            return Credentials::Anonymous;
        };
        let Ok(text) = std::str::from_utf8(header) else {
            return Credentials::Malformed;
        };
        let Some((scheme, rest)) = text.trim().split_once(' ') else {
            return Credentials::Malformed;
        };
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("basic") {
            basic(rest)
        } else if scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty() {
            Credentials::Bearer(rest.to_owned())
        } else {
            Credentials::Malformed
        }
    }
}

fn basic(encoded: &str) -> Credentials {
    let Ok(decoded) = STANDARD.decode(encoded) else {
        return Credentials::Malformed;
    };
    let Ok(text) = String::from_utf8(decoded) else {
        return Credentials::Malformed;
    };
    let Some((user, password)) = text.split_once(':') else {
        return Credentials::Malformed;
    };
    if user.is_empty() && password.is_empty() {
        return Credentials::Anonymous;
    }
    Credentials::Basic {
        user: user.to_owned(),
        password: password.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(header: &str) -> Credentials {
        Credentials::parse(Some(header.as_bytes()))
    }

    #[test]
    fn reads_basic_and_bearer() {
        assert_eq!(Credentials::parse(None), Credentials::Anonymous);
        assert_eq!(
            parse("Basic YWxpY2U6czNjcjN0OjE="),
            Credentials::Basic {
                user: "alice".into(),
                password: "s3cr3t:1".into()
            }
        );
        assert_eq!(parse("basic Og=="), Credentials::Anonymous);
        assert_eq!(
            parse("Bearer abc.def.ghi"),
            Credentials::Bearer("abc.def.ghi".into())
        );
        assert_eq!(parse("BEARER  x"), Credentials::Bearer("x".into()));
    }

    #[test]
    fn anything_else_is_malformed() {
        for header in [
            "",
            "Basic",
            "Basic !!!",
            "Basic YWxpY2U=",
            "Bearer ",
            "Digest abc",
            "Basic /w==",
        ] {
            assert_eq!(parse(header), Credentials::Malformed, "{header:?}");
        }
        assert_eq!(
            Credentials::parse(Some(&[0xff, 0xfe])),
            Credentials::Malformed
        );
    }

    #[test]
    fn debug_output_hides_secrets() {
        let shown = format!(
            "{:?} {:?}",
            parse("Basic YWxpY2U6czNjcjN0"),
            parse("Bearer tok3n")
        );
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("tok3n"),
            "{shown}"
        );
    }
}

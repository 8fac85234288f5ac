//! What a request needs and what a caller is granted, in the vocabulary of the Docker token
//! specification: a resource (`repository:<name>` or `registry:catalog`) and actions on it.

use std::fmt;

/// A typed, named resource, as in a token's `access` claim and a challenge's `scope`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Resource {
    /// `repository:<name>`
    Repository(String),
    /// `registry:catalog`
    Catalog,
}

impl Resource {
    pub fn kind(&self) -> &'static str {
        match self {
            Resource::Repository(_) => "repository",
            Resource::Catalog => "registry",
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Resource::Repository(name) => name,
            Resource::Catalog => "catalog",
        }
    }
}

/// An action on a resource. The catalog's only action is `*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Pull,
    Push,
    Delete,
    /// `*`: every action.
    All,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
            Action::Delete => "delete",
            Action::All => "*",
        }
    }

    /// An action named in configuration or a token claim; unknown names are not actions.
    pub fn parse(text: &str) -> Option<Action> {
        match text {
            "pull" => Some(Action::Pull),
            "push" => Some(Action::Push),
            "delete" => Some(Action::Delete),
            "*" => Some(Action::All),
            _ => None,
        }
    }
}

/// One action on one resource: what the reference calls an access record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Access {
    pub resource: Resource,
    pub action: Action,
}

impl Access {
    pub fn repository(name: &str, action: Action) -> Access {
        Access {
            resource: Resource::Repository(name.to_owned()),
            action,
        }
    }

    pub fn catalog() -> Access {
        Access {
            resource: Resource::Catalog,
            action: Action::All,
        }
    }
}

/// A set of the repository actions, as granted by a policy rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActionSet(u8);

impl ActionSet {
    pub const NONE: ActionSet = ActionSet(0);
    pub const ALL: ActionSet = ActionSet(0b111);

    fn bit(action: Action) -> u8 {
        match action {
            Action::Pull => 0b001,
            Action::Push => 0b010,
            Action::Delete => 0b100,
            Action::All => 0b111,
        }
    }

    pub fn with(self, action: Action) -> ActionSet {
        ActionSet(self.0 | Self::bit(action))
    }

    pub fn union(self, other: ActionSet) -> ActionSet {
        ActionSet(self.0 | other.0)
    }

    pub fn contains(self, action: Action) -> bool {
        let bit = Self::bit(action);
        self.0 & bit == bit
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl FromIterator<Action> for ActionSet {
    fn from_iter<I: IntoIterator<Item = Action>>(iter: I) -> Self {
        iter.into_iter().fold(ActionSet::NONE, ActionSet::with)
    }
}

/// What one request needs, computed once from its route, method and query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs {
    /// Every one of these must be granted, or the request is refused.
    pub required: Vec<Access>,
    /// Asked for but not required: a cross-repository mount's pull on its source. Without
    /// it the request goes on as if it had not been asked (the mount becomes an upload).
    pub optional: Vec<Access>,
}

impl Needs {
    /// The challenge's `scope`: each resource once, in the order first needed, with its
    /// actions in the order needed, e.g. `repository:a/b:pull,push`. Optional access is
    /// included, so that a token service is asked for it.
    pub fn scope(&self) -> String {
        let mut scopes: Vec<(&Resource, Vec<&'static str>)> = Vec::new();
        for access in self.required.iter().chain(&self.optional) {
            match scopes.iter_mut().find(|(r, _)| *r == &access.resource) {
                Some((_, actions)) => {
                    if !actions.contains(&access.action.as_str()) {
                        actions.push(access.action.as_str());
                    }
                }
                None => scopes.push((&access.resource, vec![access.action.as_str()])),
            }
        }
        scopes
            .iter()
            .map(|(resource, actions)| {
                format!(
                    "{}:{}:{}",
                    resource.kind(),
                    resource.name(),
                    actions.join(",")
                )
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.resource.kind(),
            self.resource.name(),
            self.action.as_str()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_groups_actions_by_resource_in_order() {
        let needs = Needs {
            required: vec![
                Access::repository("a/b", Action::Pull),
                Access::repository("a/b", Action::Push),
            ],
            optional: vec![Access::repository("c", Action::Pull)],
        };
        assert_eq!(needs.scope(), "repository:a/b:pull,push repository:c:pull");
        let catalog = Needs {
            required: vec![Access::catalog()],
            optional: vec![],
        };
        assert_eq!(catalog.scope(), "registry:catalog:*");
        assert_eq!(Needs::default().scope(), "");
    }

    #[test]
    fn action_sets() {
        let set: ActionSet = [Action::Pull, Action::Push].into_iter().collect();
        assert!(set.contains(Action::Pull) && set.contains(Action::Push));
        assert!(!set.contains(Action::Delete) && !set.contains(Action::All));
        assert!(ActionSet::NONE.with(Action::All).contains(Action::Delete));
        assert!(ActionSet::ALL.contains(Action::All));
    }
}

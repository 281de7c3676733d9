//! Namespace names (`{project}/{environment}`) and the resource collections.

use std::fmt;

/// The namespace that exists from the first start and that paths without one act on.
pub const DEFAULT_NAMESPACE: (&str, &str) = ("default", "production");

/// A namespace: a project and an environment, each 1 to 64 characters of
/// ASCII letters, digits, `.`, `_` and `-`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NamespaceName {
    project: String,
    environment: String,
}

/// Why a string is not a namespace name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{given:?}: expected a namespace project/environment, each 1 to 64 of A-Z a-z 0-9 . _ -")]
pub struct BadNamespace {
    /// What was given.
    pub given: String,
}

fn is_valid_part(part: &str) -> bool {
    (1..=64).contains(&part.len())
        && part.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && part != "."
        && part != ".."
}

impl NamespaceName {
    /// A namespace from its two parts.
    ///
    /// # Errors
    /// [`BadNamespace`] when a part is empty, too long or has other characters.
    pub fn new(project: &str, environment: &str) -> Result<Self, BadNamespace> {
        if is_valid_part(project) && is_valid_part(environment) {
            Ok(NamespaceName { project: project.to_owned(), environment: environment.to_owned() })
        } else {
            Err(BadNamespace { given: format!("{project}/{environment}") })
        }
    }

    /// `default/production`.
    pub fn default_namespace() -> Self {
        NamespaceName {
            project: DEFAULT_NAMESPACE.0.to_owned(),
            environment: DEFAULT_NAMESPACE.1.to_owned(),
        }
    }

    /// Parses `project/environment`.
    ///
    /// # Errors
    /// [`BadNamespace`] when there is no single `/` or a part is invalid.
    pub fn parse(text: &str) -> Result<Self, BadNamespace> {
        match text.split_once('/') {
            Some((project, environment)) if !environment.contains('/') => {
                NamespaceName::new(project, environment)
                    .map_err(|_| BadNamespace { given: text.to_owned() })
            }
            _ => Err(BadNamespace { given: text.to_owned() }),
        }
    }

    /// The project.
    pub fn project(&self) -> &str {
        &self.project
    }

    /// The environment.
    pub fn environment(&self) -> &str {
        &self.environment
    }
}

impl fmt::Display for NamespaceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.project, self.environment)
    }
}

/// A collection of resources, as named in paths and in the config document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// `flags`
    Flags,
    /// `segments`
    Segments,
    /// `targetGroups`
    TargetGroups,
    /// `rollouts`
    Rollouts,
    /// `abtests`
    AbTests,
    /// `experiments` (CloudBees), keyed by their `flag`
    Experiments,
}

impl Kind {
    /// Every collection, in config document order.
    pub const ALL: [Kind; 6] = [
        Kind::Flags,
        Kind::Segments,
        Kind::TargetGroups,
        Kind::Rollouts,
        Kind::AbTests,
        Kind::Experiments,
    ];

    /// The key in the config document and the path segment.
    pub fn key(self) -> &'static str {
        match self {
            Kind::Flags => "flags",
            Kind::Segments => "segments",
            Kind::TargetGroups => "targetGroups",
            Kind::Rollouts => "rollouts",
            Kind::AbTests => "abtests",
            Kind::Experiments => "experiments",
        }
    }

    /// The collection of a path segment.
    pub fn from_key(key: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.key() == key)
    }

    /// The document field that holds the resource's name.
    pub fn name_field(self) -> &'static str {
        match self {
            Kind::Experiments => "flag",
            _ => "name",
        }
    }

    /// The name a resource of this id carries in its name field.
    pub fn full_name(self, id: &str) -> String {
        match self {
            Kind::Experiments => id.to_owned(),
            _ => format!("{}/{id}", self.key()),
        }
    }

    /// The id of a name field's value, when it is well formed.
    pub fn id_of(self, name: &str) -> Option<&str> {
        let id = match self {
            Kind::Experiments => name,
            _ => name.strip_prefix(self.key())?.strip_prefix('/')?,
        };
        (!id.is_empty() && !id.contains('/')).then_some(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_parse_and_print() {
        let ns = NamespaceName::parse("shop/staging").unwrap();
        assert_eq!(ns.to_string(), "shop/staging");
        assert!(NamespaceName::parse("shop").is_err());
        assert!(NamespaceName::parse("a/b/c").is_err());
        assert!(NamespaceName::parse("../x").is_err());
        assert!(NamespaceName::parse("a b/c").is_err());
    }

    #[test]
    fn names_and_ids() {
        assert_eq!(Kind::Flags.id_of("flags/dark-mode"), Some("dark-mode"));
        assert_eq!(Kind::Flags.id_of("segments/x"), None);
        assert_eq!(Kind::Experiments.id_of("default.showBanner"), Some("default.showBanner"));
        assert_eq!(Kind::TargetGroups.full_name("qa"), "targetGroups/qa");
        assert_eq!(Kind::from_key("abtests"), Some(Kind::AbTests));
    }
}

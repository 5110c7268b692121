//! Storage settings besides the URL: who signs in to a SurrealDB server and which namespace
//! and database the shop uses. In the TOML, `storage` is the URL alone or a table:
//!
//! ```toml
//! [storage]
//! url = "ws://db.example:8000"   # WESHOP_STORAGE
//! user = "weshop"                # WESHOP_STORAGE_USER
//! password = "…"                 # WESHOP_STORAGE_PASSWORD (never logged)
//! auth = "database"              # WESHOP_STORAGE_AUTH: root (default), namespace or database
//! namespace = "weshop"           # WESHOP_STORAGE_NAMESPACE (default weshop)
//! database = "shop"              # WESHOP_STORAGE_DATABASE (default shop)
//! ```

use std::collections::HashMap;

use serde::Deserialize;
use weshop_storage::{AuthLevel, Credentials};

use super::ConfigError;

/// The `storage` key: a URL, or a table.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum StorageFile {
    Url(String),
    Table(StorageTable),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StorageTable {
    url: Option<String>,
    user: Option<String>,
    password: Option<String>,
    auth: Option<String>,
    namespace: Option<String>,
    database: Option<String>,
}

/// Storage settings besides the URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageAccess {
    /// Who signs in to a server; `None`: anonymous.
    pub credentials: Option<Credentials>,
    /// SurrealDB namespace.
    pub namespace: String,
    /// SurrealDB database.
    pub database: String,
}

impl Default for StorageAccess {
    fn default() -> Self {
        Self {
            credentials: None,
            namespace: "weshop".into(),
            database: "shop".into(),
        }
    }
}

/// What the file or the environment said, before it is checked as a whole.
#[derive(Default)]
struct Given {
    user: Option<String>,
    password: Option<String>,
    auth: Option<String>,
    namespace: Option<String>,
    database: Option<String>,
}

impl StorageAccess {
    /// Applies the `storage` key of the file; returns the URL if it gave one.
    pub(super) fn apply_file(&mut self, file: StorageFile) -> Result<Option<String>, ConfigError> {
        match file {
            StorageFile::Url(url) => Ok(Some(url)),
            StorageFile::Table(table) => {
                self.apply(
                    Given {
                        user: table.user,
                        password: table.password,
                        auth: table.auth,
                        namespace: table.namespace,
                        database: table.database,
                    },
                    "storage.",
                )?;
                Ok(table.url)
            }
        }
    }

    /// Applies `WESHOP_STORAGE_*`.
    pub(super) fn apply_env(&mut self, env: &HashMap<String, String>) -> Result<(), ConfigError> {
        let get = |name: &str| env.get(name).filter(|v| !v.trim().is_empty()).cloned();
        self.apply(
            Given {
                user: get("WESHOP_STORAGE_USER"),
                password: get("WESHOP_STORAGE_PASSWORD"),
                auth: get("WESHOP_STORAGE_AUTH"),
                namespace: get("WESHOP_STORAGE_NAMESPACE"),
                database: get("WESHOP_STORAGE_DATABASE"),
            },
            "WESHOP_STORAGE_",
        )
    }

    fn apply(&mut self, given: Given, prefix: &str) -> Result<(), ConfigError> {
        let name = |key: &str| {
            if prefix.starts_with("WESHOP") {
                format!("{prefix}{}", key.to_uppercase())
            } else {
                format!("{prefix}{key}")
            }
        };
        let bad = |key: &str, message: String| ConfigError::Value {
            name: name(key),
            message,
        };
        for (key, value) in [
            ("namespace", &given.namespace),
            ("database", &given.database),
        ] {
            if let Some(v) = value
                && (v.trim().is_empty()
                    || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            {
                return Err(bad(key, format!("{v:?}: letters, digits and _ only")));
            }
        }
        if let Some(ns) = given.namespace {
            self.namespace = ns;
        }
        if let Some(db) = given.database {
            self.database = db;
        }
        let level = match &given.auth {
            Some(text) => Some(AuthLevel::parse(text).ok_or_else(|| {
                bad(
                    "auth",
                    format!("{text:?} is not root, namespace or database"),
                )
            })?),
            None => None,
        };
        match (given.user, given.password) {
            (Some(user), Some(password)) => {
                self.credentials = Some(Credentials {
                    user,
                    password,
                    level: level.unwrap_or_default(),
                });
            }
            (None, None) => {
                if let (Some(level), Some(credentials)) = (level, self.credentials.as_mut()) {
                    credentials.level = level;
                } else if level.is_some() {
                    return Err(bad(
                        "auth",
                        "an auth level needs a user and password".into(),
                    ));
                }
            }
            (Some(_), None) => {
                return Err(bad("user", "a storage user needs a password".into()));
            }
            (None, Some(_)) => {
                return Err(bad("password", "a storage password needs a user".into()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_environment_gives_credentials_names_and_a_level() {
        let mut access = StorageAccess::default();
        access
            .apply_env(&env(&[
                ("WESHOP_STORAGE_USER", "shop"),
                ("WESHOP_STORAGE_PASSWORD", "s3cret"),
                ("WESHOP_STORAGE_AUTH", "database"),
                ("WESHOP_STORAGE_NAMESPACE", "prod"),
                ("WESHOP_STORAGE_DATABASE", "eu_1"),
            ]))
            .unwrap();
        assert_eq!(
            access,
            StorageAccess {
                credentials: Some(Credentials {
                    user: "shop".into(),
                    password: "s3cret".into(),
                    level: AuthLevel::Database,
                }),
                namespace: "prod".into(),
                database: "eu_1".into(),
            }
        );
        assert!(!format!("{access:?}").contains("s3cret"), "never logged");
    }

    #[test]
    fn half_credentials_and_bad_names_are_refused_by_name() {
        for (pairs, named) in [
            (vec![("WESHOP_STORAGE_USER", "shop")], "WESHOP_STORAGE_USER"),
            (
                vec![("WESHOP_STORAGE_PASSWORD", "x")],
                "WESHOP_STORAGE_PASSWORD",
            ),
            (
                vec![("WESHOP_STORAGE_AUTH", "admin")],
                "WESHOP_STORAGE_AUTH",
            ),
            (
                vec![("WESHOP_STORAGE_NAMESPACE", "a-b")],
                "WESHOP_STORAGE_NAMESPACE",
            ),
        ] {
            let error = StorageAccess::default()
                .apply_env(&env(&pairs))
                .unwrap_err();
            assert!(error.to_string().starts_with(named), "{error}");
        }
    }
}

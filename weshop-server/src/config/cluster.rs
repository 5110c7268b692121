//! Several nodes on one database: a node's name turns on the fulfilment lease (see
//! `weshop_core::lease`). Without it the node is the only one and leads from the start.
//!
//! ```toml
//! [cluster]
//! node = "node-1"          # WESHOP_NODE: this node's name (shown as the lease's holder)
//! lease_ttl_ms = 6000      # WESHOP_LEASE_TTL_MS: how long a lease lasts unrenewed
//! ```

use std::{collections::HashMap, time::Duration};

use serde::Deserialize;

use super::ConfigError;

/// The `[cluster]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ClusterFile {
    node: Option<String>,
    lease_ttl_ms: Option<u64>,
}

/// One node of several sharing the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSettings {
    /// This node's name.
    pub node: String,
    /// How long the fulfilment lease lasts unrenewed: a dead leader is replaced after at most
    /// this and a third of it (renewals and claims run every third).
    pub lease_ttl: Duration,
}

/// The default lease time: failover within about 8 s, renewals every 2 s.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(6);

fn node(name: &str, value: &str) -> Result<String, ConfigError> {
    let value = value.trim();
    if value.is_empty()
        || value.len() > 64
        || !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(ConfigError::Value {
            name: name.into(),
            message: format!(
                "{value:?} is not a node name (1 to 64 letters, digits, '-', '_' or '.')"
            ),
        });
    }
    Ok(value.to_string())
}

fn ttl(name: &str, ms: u64) -> Result<Duration, ConfigError> {
    if !(300..=600_000).contains(&ms) {
        return Err(ConfigError::Value {
            name: name.into(),
            message: format!("{ms} is not between 300 and 600000 milliseconds"),
        });
    }
    Ok(Duration::from_millis(ms))
}

/// Applies the file's `[cluster]`, then the environment's `WESHOP_NODE` and
/// `WESHOP_LEASE_TTL_MS`; a lease time without a node name is refused (it would do nothing).
pub(super) fn apply(
    cluster: &mut Option<ClusterSettings>,
    file: Option<ClusterFile>,
    env: &HashMap<String, String>,
) -> Result<(), ConfigError> {
    let file = file.unwrap_or_default();
    let name = match (env.get("WESHOP_NODE"), file.node) {
        (Some(v), _) => Some(node("WESHOP_NODE", v)?),
        (None, Some(v)) => Some(node("cluster.node", &v)?),
        (None, None) => cluster.as_ref().map(|c| c.node.clone()),
    };
    let lease_ttl = match (env.get("WESHOP_LEASE_TTL_MS"), file.lease_ttl_ms) {
        (Some(v), _) => Some(ttl(
            "WESHOP_LEASE_TTL_MS",
            v.parse().map_err(|_| ConfigError::Value {
                name: "WESHOP_LEASE_TTL_MS".into(),
                message: format!("{v:?} is not a number"),
            })?,
        )?),
        (None, Some(ms)) => Some(ttl("cluster.lease_ttl_ms", ms)?),
        (None, None) => None,
    };
    *cluster = match (name, lease_ttl) {
        (Some(node), ttl) => Some(ClusterSettings {
            node,
            lease_ttl: ttl
                .or(cluster.as_ref().map(|c| c.lease_ttl))
                .unwrap_or(DEFAULT_LEASE_TTL),
        }),
        (None, Some(_)) => {
            return Err(ConfigError::Value {
                name: "WESHOP_LEASE_TTL_MS".into(),
                message: "a lease time needs a node name (WESHOP_NODE or cluster.node)".into(),
            });
        }
        (None, None) => None,
    };
    Ok(())
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
    fn a_node_name_turns_the_lease_on() {
        let mut cluster = None;
        apply(&mut cluster, None, &env(&[])).unwrap();
        assert_eq!(cluster, None, "one node by default");
        apply(&mut cluster, None, &env(&[("WESHOP_NODE", "node-1")])).unwrap();
        assert_eq!(
            cluster,
            Some(ClusterSettings {
                node: "node-1".into(),
                lease_ttl: DEFAULT_LEASE_TTL
            })
        );
        let file = ClusterFile {
            node: Some("a".into()),
            lease_ttl_ms: Some(900),
        };
        apply(&mut cluster, Some(file), &env(&[])).unwrap();
        assert_eq!(cluster.unwrap().lease_ttl, Duration::from_millis(900));
    }

    #[test]
    fn bad_values_are_refused_by_name() {
        let mut cluster = None;
        for (vars, named) in [
            (vec![("WESHOP_NODE", "a b")], "WESHOP_NODE"),
            (
                vec![("WESHOP_NODE", "a"), ("WESHOP_LEASE_TTL_MS", "10")],
                "WESHOP_LEASE_TTL_MS",
            ),
            (vec![("WESHOP_LEASE_TTL_MS", "5000")], "WESHOP_LEASE_TTL_MS"),
        ] {
            let error = apply(&mut cluster, None, &env(&vars)).unwrap_err();
            assert!(error.to_string().starts_with(named), "{error}");
        }
    }
}

//! The replicate section's options (§0) and the quorum rule (§5).

use crate::error::{Error, Result};
use crate::graph::{is_true, XlSpec};

/// How many bricks must take part (§5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quorum {
    None,
    /// More than half; exactly half only with the first brick.
    Auto,
    /// At least this many.
    Fixed(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicateOptions {
    /// The pending key of each child, in child order: `trusted.afr.` +
    /// `afr-pending-xattr` item (not the client names, which differ after
    /// a replace-brick).
    pub pending_keys: Vec<String>,
    pub dirty_key: String,
    /// The arbiter's child index (only ever 2, with `arbiter-count 1`).
    pub arbiter: Option<usize>,
    pub quorum: Quorum,
    pub eager_lock: bool,
    /// How long a run of writes keeps its lock and dirty mark after the
    /// last write (`post-op-delay-secs`, §3.8); 0 ends it at once.
    pub post_op_delay: std::time::Duration,
    pub optimistic_change_log: bool,
    pub ensure_durability: bool,
    pub granular_entry_heal: bool,
    pub read_hash_mode: u32,
    /// The child reads prefer when it is a good copy (`read-subvolume`
    /// by name or `read-subvolume-index`; never the arbiter).
    pub read_subvolume: Option<usize>,
    /// Prefer the brick on this machine for reads (`choose-local`).
    pub choose_local: bool,
    /// Hide `.glusterfs-anonymous-inode-<volume-id>` from listings.
    pub anonymous_inode: bool,
}

impl ReplicateOptions {
    /// Reads the options of a replicate section over `spec.children`.
    /// What we do not implement refuses the volume by name.
    pub fn parse(spec: &XlSpec) -> Result<ReplicateOptions> {
        let n = spec.children.len();
        let refuse = |what: String| Error::Unsupported {
            name: spec.name.clone(),
            xl_type: spec.xl_type.clone(),
            detail: format!(" with {what}"),
        };
        let invalid = |what: String| Error::Invalid(format!("{}: {what}", spec.name));
        if n == 0 {
            return Err(invalid("no subvolumes".into()));
        }
        if spec.option("thin-arbiter").is_some_and(|v| !v.is_empty()) {
            return Err(refuse("a thin arbiter".into()));
        }
        if spec.flag("halo-enabled", false) {
            return Err(refuse("halo replication".into()));
        }
        let names: Vec<String> = match spec.option("afr-pending-xattr") {
            Some(v) => v.split(',').map(|s| s.trim().to_string()).collect(),
            None => spec.children.iter().map(|c| c.name.clone()).collect(),
        };
        if names.len() != n || names.iter().any(String::is_empty) {
            return Err(invalid(format!(
                "afr-pending-xattr names {} keys for {n} subvolumes",
                names.len()
            )));
        }
        let arbiter = match spec.option("arbiter-count").unwrap_or("0") {
            "0" => None,
            "1" if n == 3 => Some(2),
            v => return Err(refuse(format!("arbiter-count {v} over {n} bricks"))),
        };
        let quorum = match spec.option("quorum-type") {
            None if n > 2 => Quorum::Auto,
            None | Some("none") => Quorum::None,
            Some("auto") => Quorum::Auto,
            Some("fixed") => {
                let c = spec.option("quorum-count").unwrap_or("0");
                match c.parse::<usize>() {
                    Ok(c) if c <= n => Quorum::Fixed(c),
                    _ => return Err(invalid(format!("bad quorum-count '{c}'"))),
                }
            }
            Some(t) => return Err(invalid(format!("unknown quorum-type '{t}'"))),
        };
        let mode = spec.option("read-hash-mode").unwrap_or("1");
        let read_hash_mode = mode
            .parse::<u32>()
            .ok()
            .filter(|m| *m <= 5)
            .ok_or_else(|| invalid(format!("bad read-hash-mode '{mode}'")))?;
        let by_name = spec
            .option("read-subvolume")
            .map(|v| {
                spec.children
                    .iter()
                    .position(|c| c.name == v)
                    .ok_or_else(|| invalid(format!("read-subvolume '{v}' is not a subvolume")))
            })
            .transpose()?;
        let by_index = spec
            .option("read-subvolume-index")
            .map(|v| match v.parse::<i64>() {
                Ok(i) if i < 0 => Ok(None),
                Ok(i) if (i as usize) < n => Ok(Some(i as usize)),
                _ => Err(invalid(format!("bad read-subvolume-index '{v}'"))),
            })
            .transpose()?
            .flatten();
        let read_subvolume = by_name.or(by_index).filter(|i| Some(*i) != arbiter);
        Ok(ReplicateOptions {
            read_subvolume,
            choose_local: spec.flag("choose-local", true),
            pending_keys: names.iter().map(|s| format!("trusted.afr.{s}")).collect(),
            dirty_key: spec
                .option("afr-dirty-xattr")
                .unwrap_or("trusted.afr.dirty")
                .to_string(),
            arbiter,
            quorum,
            eager_lock: spec.flag("eager-lock", true),
            post_op_delay: std::time::Duration::from_secs(
                spec.option("post-op-delay-secs")
                    .map(|v| {
                        v.parse::<u64>()
                            .map_err(|_| invalid(format!("bad post-op-delay-secs '{v}'")))
                    })
                    .transpose()?
                    .unwrap_or(1)
                    .min(3600),
            ),
            optimistic_change_log: spec.flag("optimistic-change-log", true),
            ensure_durability: spec.flag("ensure-durability", true),
            granular_entry_heal: spec.flag("granular-entry-heal", false),
            read_hash_mode,
            anonymous_inode: spec.option("use-anonymous-inode").is_some_and(is_true),
        })
    }

    pub fn children(&self) -> usize {
        self.pending_keys.len()
    }

    /// Whether the bricks `up` (by child index) meet quorum (§5). The
    /// arbiter counts as a full member.
    pub fn quorum_met(&self, up: &[bool]) -> bool {
        let n = self.children();
        let count = up.iter().take(n).filter(|u| **u).count();
        match self.quorum {
            Quorum::None => true,
            Quorum::Fixed(c) => count >= c,
            Quorum::Auto if 2 * count == n => up.first().copied().unwrap_or(false),
            Quorum::Auto => count > n / 2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(n: usize, opts: &[(&str, &str)]) -> XlSpec {
        XlSpec {
            name: "v-replicate-0".into(),
            xl_type: "cluster/replicate".into(),
            options: opts
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            children: (0..n)
                .map(|i| XlSpec {
                    name: format!("v-client-{i}"),
                    xl_type: "protocol/client".into(),
                    options: Vec::new(),
                    children: Vec::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn pending_keys_follow_afr_pending_xattr_not_client_names() {
        let s = spec(
            3,
            &[("afr-pending-xattr", "v-client-0,v-client-7,v-client-2")],
        );
        let o = ReplicateOptions::parse(&s).unwrap();
        assert_eq!(o.pending_keys[1], "trusted.afr.v-client-7");
        assert_eq!(o.dirty_key, "trusted.afr.dirty");
        let o = ReplicateOptions::parse(&spec(2, &[])).unwrap();
        assert_eq!(
            o.pending_keys,
            ["trusted.afr.v-client-0", "trusted.afr.v-client-1"]
        );
        let bad = spec(3, &[("afr-pending-xattr", "a,b")]);
        assert!(ReplicateOptions::parse(&bad).is_err());
    }

    #[test]
    fn quorum_defaults_and_rules() {
        // Unset: auto above two bricks, none for two.
        let o3 = ReplicateOptions::parse(&spec(3, &[])).unwrap();
        assert_eq!(o3.quorum, Quorum::Auto);
        assert!(o3.quorum_met(&[true, false, true]));
        assert!(!o3.quorum_met(&[false, false, true]));
        let o2 = ReplicateOptions::parse(&spec(2, &[])).unwrap();
        assert_eq!(o2.quorum, Quorum::None);
        let a2 = ReplicateOptions::parse(&spec(2, &[("quorum-type", "auto")])).unwrap();
        // Exactly half: only with the first brick.
        assert!(a2.quorum_met(&[true, false]));
        assert!(!a2.quorum_met(&[false, true]));
        let f =
            ReplicateOptions::parse(&spec(3, &[("quorum-type", "fixed"), ("quorum-count", "3")]))
                .unwrap();
        assert!(!f.quorum_met(&[true, true, false]));
        assert!(f.quorum_met(&[true, true, true]));
    }

    #[test]
    fn arbiter_and_refusals() {
        let a = ReplicateOptions::parse(&spec(3, &[("arbiter-count", "1")])).unwrap();
        assert_eq!(a.arbiter, Some(2));
        for (n, opts) in [
            (3, vec![("thin-arbiter", "host:/b")]),
            (3, vec![("halo-enabled", "on")]),
            (2, vec![("arbiter-count", "1")]),
        ] {
            let e = ReplicateOptions::parse(&spec(n, &opts)).unwrap_err();
            assert!(matches!(e, Error::Unsupported { .. }), "{e}");
            assert!(e.to_string().contains("v-replicate-0"), "{e}");
        }
        assert!(ReplicateOptions::parse(&spec(
            3,
            &[("quorum-type", "fixed"), ("quorum-count", "x")]
        ))
        .is_err());
        assert!(ReplicateOptions::parse(&spec(3, &[("read-hash-mode", "9")])).is_err());
    }
}

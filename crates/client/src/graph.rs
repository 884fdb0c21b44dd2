//! From a parsed volfile to the translator graph glusterfs-rs runs.
//!
//! Performance translators are dropped (caching lives in the FUSE layer).
//! Translators that change where data lives or what is on disk must be
//! implemented or the volume is refused, naming the translator: a
//! half-understood graph corrupts data (PROTOCOL.md 8.3).

use crate::error::{Error, Result};
use crate::volfile::{Section, Volfile};
use std::time::Duration;

/// A protocol/client section: one brick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSpec {
    pub name: String,
    pub remote_host: String,
    pub remote_port: Option<u16>,
    pub remote_subvolume: String,
    /// Every option of the section: SETVOLUME sends them all, as upstream.
    pub options: Vec<(String, String)>,
    pub ping_timeout: Duration,
}

/// One translator of the graph we run, with its children (volfile order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XlSpec {
    pub name: String,
    pub xl_type: String,
    pub options: Vec<(String, String)>,
    pub children: Vec<XlSpec>,
}

impl XlSpec {
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether a boolean option is on (`default` when absent).
    pub fn flag(&self, key: &str, default: bool) -> bool {
        self.option(key).map_or(default, is_true)
    }

    /// Every node of the tree, this one first.
    pub fn walk(&self) -> Vec<&XlSpec> {
        let mut out = vec![self];
        for c in &self.children {
            out.extend(c.walk());
        }
        out
    }
}

/// performance/write-behind as configured for the volume. We do not run
/// the translator; the FUSE layer's own write-behind follows its policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteBehindSpec {
    /// O_DIRECT writes must reach the brick before they complete.
    pub strict_o_direct: bool,
    /// FLUSH (close) may complete before the brick has answered it.
    pub flush_behind: bool,
    /// Bytes of unacknowledged writes per file (`cache-size`).
    pub window: u64,
}

/// The graph glusterfs-rs builds for a volume: the volfile's tree without
/// the translators we leave out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Graph {
    /// Name of the top section (the volume name in 10.x).
    pub top: String,
    pub tree: XlSpec,
    /// None when the volume turned write-behind off.
    pub write_behind: Option<WriteBehindSpec>,
}

/// Translators that only cache or schedule; safe to leave out.
const SKIPPED: &[&str] = &[
    "debug/io-stats",
    "performance/write-behind",
    "performance/read-ahead",
    "performance/readdir-ahead",
    "performance/io-cache",
    "performance/quick-read",
    "performance/open-behind",
    "performance/md-cache",
    "performance/nl-cache",
    "performance/io-threads",
    "performance/parallel-readdir",
    "performance/client-io-threads",
    "performance/decompounder",
    "features/namespace",
    "meta",
];

impl Graph {
    /// The tree of `volfile` from its top section. Translators that
    /// change data layout and that `implemented` does not know refuse the
    /// volume, by name.
    pub fn build(volfile: &Volfile) -> Result<Graph> {
        let top = volfile
            .top()
            .ok_or_else(|| Error::Invalid("empty volfile".into()))?;
        let mut write_behind = None;
        let mut tree = node(volfile, top, None, &mut write_behind, 0)?;
        if tree.xl_type == "protocol/client" {
            // A bare client graph: distribute over one brick, as the
            // official client also lays out new directories there.
            tree = XlSpec {
                name: format!("{}-dht", top.name),
                xl_type: "cluster/distribute".into(),
                options: Vec::new(),
                children: vec![tree],
            };
        }
        Ok(Graph {
            top: top.name.clone(),
            tree,
            write_behind,
        })
    }

    /// The protocol/client sections, in tree order.
    pub fn bricks(&self) -> Vec<&XlSpec> {
        self.tree
            .walk()
            .into_iter()
            .filter(|n| n.xl_type == "protocol/client")
            .collect()
    }
}

/// Volfiles are small; a deeper tree is a loop or garbage.
const MAX_DEPTH: usize = 32;

fn node(
    v: &Volfile,
    s: &Section,
    parent: Option<&Section>,
    write_behind: &mut Option<WriteBehindSpec>,
    depth: usize,
) -> Result<XlSpec> {
    if depth > MAX_DEPTH {
        return Err(Error::Invalid(format!(
            "volfile graph deeper than {MAX_DEPTH} at '{}' (a loop?)",
            s.name
        )));
    }
    let t = s.xl_type.as_str();
    if t == "performance/write-behind" {
        *write_behind = Some(WriteBehindSpec {
            strict_o_direct: s.option("strict-O_DIRECT").is_some_and(is_true),
            flush_behind: s.option("flush-behind").is_none_or(is_true),
            window: s
                .option("cache-size")
                .and_then(parse_size)
                .unwrap_or(1 << 20),
        });
    }
    if SKIPPED.contains(&t) {
        return node(v, single_child(v, s)?, Some(s), write_behind, depth + 1);
    }
    if !crate::registry::implemented(t) {
        let detail = parent
            .filter(|p| !SKIPPED.contains(&p.xl_type.as_str()))
            .map(|p| format!(" under {}", p.name))
            .unwrap_or_default();
        return Err(unsupported(s, &detail));
    }
    if t == "protocol/client" {
        client(s)?; // refuse bad options now, with the section's name
    }
    let mut children = Vec::with_capacity(s.subvolumes.len());
    for name in &s.subvolumes {
        let c = child(v, s, name)?;
        children.push(node(v, c, Some(s), write_behind, depth + 1)?);
    }
    if t != "protocol/client" && children.is_empty() {
        return Err(Error::Invalid(format!(
            "translator '{}' ({t}) has no subvolumes",
            s.name
        )));
    }
    Ok(XlSpec {
        name: s.name.clone(),
        xl_type: s.xl_type.clone(),
        options: s.options.clone(),
        children,
    })
}

/// "1MB", "4096", "512KB" as GlusterFS size options are written.
fn parse_size(v: &str) -> Option<u64> {
    let v = v.trim().to_ascii_uppercase();
    let digits = v.chars().take_while(char::is_ascii_digit).count();
    let n: u64 = v[..digits].parse().ok()?;
    let mult = match v[digits..].trim() {
        "" | "B" => 1,
        "KB" | "K" => 1 << 10,
        "MB" | "M" => 1 << 20,
        "GB" | "G" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult)
}

pub(crate) fn is_true(v: &str) -> bool {
    matches!(
        v.to_ascii_lowercase().as_str(),
        "on" | "yes" | "true" | "enable" | "1"
    )
}

fn unsupported(s: &Section, detail: &str) -> Error {
    Error::Unsupported {
        name: s.name.clone(),
        xl_type: s.xl_type.clone(),
        detail: detail.to_string(),
    }
}

fn single_child<'a>(v: &'a Volfile, s: &Section) -> Result<&'a Section> {
    match s.subvolumes.as_slice() {
        [one] => v.section(one).ok_or_else(|| {
            Error::Invalid(format!(
                "volume '{}' names unknown subvolume '{one}'",
                s.name
            ))
        }),
        _ => Err(Error::Invalid(format!(
            "translator '{}' ({}) must have exactly one subvolume, has {}",
            s.name,
            s.xl_type,
            s.subvolumes.len()
        ))),
    }
}

fn child<'a>(v: &'a Volfile, s: &Section, name: &str) -> Result<&'a Section> {
    v.section(name).ok_or_else(|| {
        Error::Invalid(format!(
            "volume '{}' names unknown subvolume '{name}'",
            s.name
        ))
    })
}

/// The brick a protocol/client spec names.
pub fn client_spec(x: &XlSpec) -> Result<ClientSpec> {
    client(&Section {
        name: x.name.clone(),
        xl_type: x.xl_type.clone(),
        options: x.options.clone(),
        subvolumes: Vec::new(),
        line: 0,
    })
}

fn client(s: &Section) -> Result<ClientSpec> {
    let need = |k: &str| {
        s.option(k).map(str::to_string).ok_or_else(|| {
            Error::Invalid(format!("protocol/client '{}' has no 'option {k}'", s.name))
        })
    };
    if let Some(t) = s.option("transport-type") {
        if !matches!(t, "tcp" | "socket") {
            return Err(unsupported(s, &format!(" with transport-type {t}")));
        }
    }
    if s.option("transport.socket.ssl-enabled")
        .is_some_and(is_true)
    {
        return Err(unsupported(
            s,
            " with TLS (transport.socket.ssl-enabled on)",
        ));
    }
    let remote_port = match s.option("remote-port") {
        None => None,
        Some(p) => Some(p.parse::<u16>().map_err(|_| {
            Error::Invalid(format!(
                "protocol/client '{}': bad remote-port '{p}'",
                s.name
            ))
        })?),
    };
    let ping_timeout = match s.option("ping-timeout") {
        None => Duration::from_secs(42),
        Some(p) => Duration::from_secs(p.parse::<u64>().map_err(|_| {
            Error::Invalid(format!(
                "protocol/client '{}': bad ping-timeout '{p}'",
                s.name
            ))
        })?),
    };
    Ok(ClientSpec {
        name: s.name.clone(),
        remote_host: need("remote-host")?,
        remote_port,
        remote_subvolume: need("remote-subvolume")?,
        options: s.options.clone(),
        ping_timeout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn volfile_of(fixture: &str, key: &str) -> Volfile {
        let path = format!(
            "{}/../proto/tests/fixtures/{fixture}",
            env!("CARGO_MANIFEST_DIR")
        );
        let map: BTreeMap<String, String> =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let rec = hex::decode(&map[key]).unwrap();
        let rsp: proto::mgmt::GetspecRsp = xdr::Xdr::from_xdr(&rec[28..]).unwrap();
        Volfile::parse(std::str::from_utf8(&rsp.spec).unwrap()).unwrap()
    }

    fn brick(x: &XlSpec) -> ClientSpec {
        assert_eq!(x.xl_type, "protocol/client");
        client_spec(x).unwrap()
    }

    #[test]
    fn single_brick_volume() {
        let g = Graph::build(&volfile_of("vsingle.json", "glusterd.GETSPEC.reply")).unwrap();
        let utime = g
            .tree
            .walk()
            .into_iter()
            .find(|n| n.xl_type == "features/utime");
        let utime = utime.expect("features/utime kept");
        assert!(crate::utime::Utime::from_spec(utime).noatime);
        let wb = g.write_behind.unwrap();
        assert!(!wb.strict_o_direct && wb.flush_behind && wb.window == 1 << 20);
        assert_eq!(parse_size("4MB"), Some(4 << 20));
        let c = brick(g.bricks()[0]);
        assert_eq!(c.remote_host, "127.0.0.2");
        assert!(c.remote_subvolume.starts_with("/bricks/gl/"));
        assert_eq!(c.ping_timeout, Duration::from_secs(42));
    }

    #[test]
    fn unsupported_translators_are_named() {
        for (fixture, name) in [("vec.json", "-disperse-0"), ("vvirt.json", "-shard")] {
            let e = Graph::build(&volfile_of(fixture, "glusterd.GETSPEC.reply")).unwrap_err();
            let msg = e.to_string();
            assert!(matches!(e, Error::Unsupported { .. }), "{fixture}: {msg}");
            assert!(msg.contains(name), "{fixture}: {msg}");
        }
    }

    #[test]
    fn distribute_over_bricks() {
        let g = Graph::build(&volfile_of("vdist.json", "glusterd.GETSPEC.reply")).unwrap();
        let dht = g
            .tree
            .walk()
            .into_iter()
            .find(|n| n.xl_type == "cluster/distribute")
            .unwrap();
        assert!(dht.children.len() > 1);
        for (i, s) in dht.children.iter().enumerate() {
            assert!(s.name.ends_with(&format!("-client-{i}")));
        }
    }

    #[test]
    fn replicate_under_distribute() {
        let g = Graph::build(&volfile_of("vrep3.json", "glusterd.GETSPEC.reply")).unwrap();
        let afr = g
            .tree
            .walk()
            .into_iter()
            .find(|n| n.xl_type == "cluster/replicate")
            .unwrap();
        assert!(afr.name.ends_with("-replicate-0"));
        assert_eq!(afr.children.len(), 3);
        crate::replicate::ReplicateOptions::parse(afr).unwrap();
    }

    #[test]
    fn parses_the_fops_volfiles() {
        let g = Graph::build(&volfile_of("fops.json", "glusterd.GETSPEC.reply")).unwrap();
        let c = brick(g.bricks()[0]);
        assert!(c.options.iter().any(|(k, _)| k == "username"));
    }
}

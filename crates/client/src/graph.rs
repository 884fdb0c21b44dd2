//! From a parsed volfile to the translator graph glusterfs-rs runs.
//!
//! Performance translators are dropped (caching lives in the FUSE layer).
//! Translators that change where data lives or what is on disk must be
//! implemented or the volume is refused, naming the translator: a
//! half-understood graph corrupts data (PROTOCOL.md 8.3).

use crate::error::{Error, Result};
use crate::utime::Utime;
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

/// The cluster/distribute section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistributeSpec {
    pub name: String,
    pub subvolumes: Vec<SubvolSpec>,
    pub options: Vec<(String, String)>,
}

/// One child of distribute: a brick, or a replica/disperse set of bricks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubvolSpec {
    Client(ClientSpec),
    /// cluster/replicate or cluster/disperse over `bricks`. Parsed so the
    /// graph is complete; the volume is refused until the translator
    /// exists (see `volume::build_distribute`).
    Set {
        name: String,
        xl_type: String,
        bricks: Vec<ClientSpec>,
        options: Vec<(String, String)>,
    },
}

impl SubvolSpec {
    /// The name distribute knows this child by (stored in linkto xattrs).
    pub fn name(&self) -> &str {
        match self {
            SubvolSpec::Client(c) => &c.name,
            SubvolSpec::Set { name, .. } => name,
        }
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

/// The graph glusterfs-rs builds for a volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Graph {
    /// Name of the top section (the volume name in 10.x).
    pub top: String,
    pub utime: Utime,
    pub distribute: DistributeSpec,
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
    pub fn build(volfile: &Volfile) -> Result<Graph> {
        let top = volfile
            .top()
            .ok_or_else(|| Error::Invalid("empty volfile".into()))?;
        let mut utime = Utime::default();
        let mut write_behind = None;
        let mut cur = top;
        loop {
            match cur.xl_type.as_str() {
                "performance/write-behind" => {
                    write_behind = Some(WriteBehindSpec {
                        strict_o_direct: cur.option("strict-O_DIRECT").is_some_and(is_true),
                        flush_behind: cur.option("flush-behind").is_none_or(is_true),
                        window: cur
                            .option("cache-size")
                            .and_then(parse_size)
                            .unwrap_or(1 << 20),
                    });
                }
                t if SKIPPED.contains(&t) => {}
                "features/utime" => {
                    utime.enabled = true;
                    utime.noatime = cur.option("noatime").is_none_or(is_true);
                }
                "cluster/distribute" => {
                    return Ok(Graph {
                        top: top.name.clone(),
                        utime,
                        distribute: distribute(volfile, cur)?,
                        write_behind,
                    });
                }
                "protocol/client" => {
                    // A bare client graph (no DHT): treat as distribute over one.
                    return Ok(Graph {
                        top: top.name.clone(),
                        utime,
                        write_behind,
                        distribute: DistributeSpec {
                            name: format!("{}-dht", top.name),
                            subvolumes: vec![SubvolSpec::Client(client(cur)?)],
                            options: Vec::new(),
                        },
                    });
                }
                _ => return Err(unsupported(cur, "")),
            }
            cur = single_child(volfile, cur)?;
        }
    }
}

impl Graph {
    /// Refuses graphs whose translators are parsed but not implemented
    /// yet (replicate and disperse sets under distribute).
    pub fn check_supported(&self) -> Result<()> {
        for sub in &self.distribute.subvolumes {
            if let SubvolSpec::Set { name, xl_type, .. } = sub {
                return Err(Error::Unsupported {
                    name: name.clone(),
                    xl_type: xl_type.clone(),
                    detail: format!(" under {}", self.distribute.name),
                });
            }
        }
        Ok(())
    }
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

fn is_true(v: &str) -> bool {
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

fn distribute(v: &Volfile, s: &Section) -> Result<DistributeSpec> {
    if s.subvolumes.is_empty() {
        return Err(Error::Invalid(format!(
            "distribute '{}' has no subvolumes",
            s.name
        )));
    }
    let mut subvolumes = Vec::new();
    for name in &s.subvolumes {
        let c = child(v, s, name)?;
        match c.xl_type.as_str() {
            "protocol/client" => subvolumes.push(SubvolSpec::Client(client(c)?)),
            "cluster/replicate" | "cluster/disperse" => {
                let mut bricks = Vec::new();
                for b in &c.subvolumes {
                    let bs = child(v, c, b)?;
                    if bs.xl_type != "protocol/client" {
                        return Err(unsupported(bs, &format!(" under {}", c.name)));
                    }
                    bricks.push(client(bs)?);
                }
                subvolumes.push(SubvolSpec::Set {
                    name: c.name.clone(),
                    xl_type: c.xl_type.clone(),
                    bricks,
                    options: c.options.clone(),
                });
            }
            _ => return Err(unsupported(c, "")),
        }
    }
    Ok(DistributeSpec {
        name: s.name.clone(),
        subvolumes,
        options: s.options.clone(),
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

    #[test]
    fn single_brick_volume() {
        let g = Graph::build(&volfile_of("vsingle.json", "glusterd.GETSPEC.reply")).unwrap();
        assert!(g.utime.enabled && g.utime.noatime);
        let wb = g.write_behind.unwrap();
        assert!(!wb.strict_o_direct && wb.flush_behind && wb.window == 1 << 20);
        assert_eq!(parse_size("4MB"), Some(4 << 20));
        let SubvolSpec::Client(c) = &g.distribute.subvolumes[0] else {
            panic!("not a brick")
        };
        assert_eq!(c.remote_host, "127.0.0.2");
        assert!(c.remote_subvolume.starts_with("/bricks/gl/"));
        assert_eq!(c.ping_timeout, Duration::from_secs(42));
    }

    #[test]
    fn unsupported_translators_are_named() {
        for (fixture, name) in [
            ("vrep3.json", "-replicate-0"),
            ("vec.json", "-disperse-0"),
            ("vvirt.json", "-shard"),
        ] {
            let e = Graph::build(&volfile_of(fixture, "glusterd.GETSPEC.reply"))
                .and_then(|g| g.check_supported())
                .unwrap_err();
            let msg = e.to_string();
            assert!(matches!(e, Error::Unsupported { .. }), "{fixture}: {msg}");
            assert!(msg.contains(name), "{fixture}: {msg}");
        }
    }

    #[test]
    fn distribute_over_bricks_and_sets() {
        let g = Graph::build(&volfile_of("vdist.json", "glusterd.GETSPEC.reply")).unwrap();
        assert!(g.distribute.subvolumes.len() > 1);
        assert!(g.check_supported().is_ok());
        for (i, s) in g.distribute.subvolumes.iter().enumerate() {
            assert!(s.name().ends_with(&format!("-client-{i}")));
        }
        let g = Graph::build(&volfile_of("vrep3.json", "glusterd.GETSPEC.reply")).unwrap();
        match &g.distribute.subvolumes[..] {
            [SubvolSpec::Set {
                bricks, xl_type, ..
            }] => {
                assert_eq!((bricks.len(), xl_type.as_str()), (3, "cluster/replicate"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parses_the_fops_volfiles() {
        let g = Graph::build(&volfile_of("fops.json", "glusterd.GETSPEC.reply")).unwrap();
        let SubvolSpec::Client(c) = &g.distribute.subvolumes[0] else {
            panic!("not a brick")
        };
        assert!(c.options.iter().any(|(k, _)| k == "username"));
    }
}

//! Mount options: the official mount.glusterfs option names (PROTOCOL.md
//! 9.3) plus the generic mount(8) flags. An unknown option is an error,
//! never silently dropped; options we accept but do not act on are logged.

use std::path::PathBuf;
use std::time::Duration;

/// direct-io-mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectIo {
    /// Page cache for regular files (the official client's default for
    /// files opened without O_DIRECT).
    Auto,
    Enable,
    Disable,
}

/// Everything `glusterfs-rs mount` needs.
#[derive(Debug, Clone, PartialEq)]
pub struct MountConfig {
    /// Volfile servers, in the order to try them.
    pub servers: Vec<String>,
    /// glusterd port (server-port).
    pub port: u16,
    pub volume: String,
    pub mountpoint: PathBuf,
    pub log_level: String,
    /// A path, or "syslog"; None = /var/log/glusterfs-rs/<mountpoint>.log.
    pub log_file: Option<String>,
    pub read_only: bool,
    pub attribute_timeout: Duration,
    pub entry_timeout: Duration,
    pub negative_timeout: Duration,
    pub direct_io: DirectIo,
    pub writeback_cache: bool,
    pub acl: bool,
    pub reader_threads: usize,
    /// Generic kernel mount flags to pass on (nosuid, nodev, ...).
    pub kernel_flags: Vec<String>,
    pub process_name: String,
    /// Accepted for compatibility, not acted upon (logged at mount).
    pub ignored: Vec<String>,
}

impl MountConfig {
    pub fn new(spec: &str, mountpoint: PathBuf) -> Result<MountConfig, String> {
        let (hosts, path) = split_spec(spec)?;
        let volume = path.trim_start_matches('/');
        if volume.is_empty() {
            return Err(format!("'{spec}': no volume name (expected HOST:/VOLUME)"));
        }
        if volume.contains('/') {
            return Err(format!(
                "'{spec}': subdirectory mounts are not supported yet (mount HOST:/VOLUME)"
            ));
        }
        Ok(MountConfig {
            servers: hosts,
            port: 24007,
            volume: volume.to_string(),
            mountpoint,
            log_level: "INFO".into(),
            log_file: None,
            read_only: false,
            attribute_timeout: Duration::from_secs(1),
            entry_timeout: Duration::from_secs(1),
            negative_timeout: Duration::ZERO,
            direct_io: DirectIo::Auto,
            writeback_cache: false,
            acl: false,
            reader_threads: 4,
            kernel_flags: Vec::new(),
            process_name: "fuse".into(),
            ignored: Vec::new(),
        })
    }

    /// Applies a comma-separated `-o` option string.
    pub fn apply(&mut self, opts: &str) -> Result<(), String> {
        for opt in split_options(opts) {
            self.apply_one(&opt)?;
        }
        Ok(())
    }

    fn apply_one(&mut self, opt: &str) -> Result<(), String> {
        let (key, value) = match opt.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (opt, None),
        };
        let seconds = |v: Option<&str>| -> Result<Duration, String> {
            let v = need_value(key, v)?;
            v.parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s >= 0.0 && *s < 1e9)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| format!("mount option '{key}': '{v}' is not a number of seconds"))
        };
        match key {
            "" => {}
            "log-level" => {
                let v = need_value(key, value)?.to_ascii_uppercase();
                if !matches!(
                    v.as_str(),
                    "TRACE" | "DEBUG" | "INFO" | "WARNING" | "ERROR" | "CRITICAL" | "NONE"
                ) {
                    return Err(format!(
                        "mount option 'log-level': '{v}' is not one of TRACE, DEBUG, INFO, WARNING, ERROR, CRITICAL, NONE"
                    ));
                }
                self.log_level = v;
            }
            "log-file" => self.log_file = Some(need_value(key, value)?.to_string()),
            "ro" => self.read_only = true,
            "rw" => self.read_only = false,
            "transport" => match need_value(key, value)? {
                "tcp" | "socket" => {}
                v => {
                    return Err(format!(
                        "mount option 'transport={v}': only tcp is supported"
                    ))
                }
            },
            "backup-volfile-servers" | "backupvolfile-server" => {
                for h in need_value(key, value)?.split(':').filter(|h| !h.is_empty()) {
                    self.servers.push(h.to_string());
                }
            }
            "server-port" => {
                let v = need_value(key, value)?;
                self.port =
                    v.parse().ok().filter(|p| *p != 0).ok_or_else(|| {
                        format!("mount option 'server-port': '{v}' is not a port")
                    })?;
            }
            "attribute-timeout" => self.attribute_timeout = seconds(value)?,
            "entry-timeout" => self.entry_timeout = seconds(value)?,
            "negative-timeout" => self.negative_timeout = seconds(value)?,
            "direct-io-mode" => {
                self.direct_io = match need_value(key, value)? {
                    "auto" => DirectIo::Auto,
                    "enable" | "on" | "yes" | "true" => DirectIo::Enable,
                    "disable" | "off" | "no" | "false" => DirectIo::Disable,
                    v => {
                        return Err(format!(
                            "mount option 'direct-io-mode': '{v}' is not enable, disable or auto"
                        ))
                    }
                }
            }
            "kernel-writeback-cache" => {
                self.writeback_cache = yes_no(key, need_value(key, value)?)?
            }
            "acl" => self.acl = true,
            "reader-thread-count" => {
                let v = need_value(key, value)?;
                self.reader_threads =
                    v.parse()
                        .ok()
                        .filter(|n| (1..=64).contains(n))
                        .ok_or_else(|| {
                            format!("mount option 'reader-thread-count': '{v}' is not 1-64")
                        })?;
            }
            "process-name" => self.process_name = need_value(key, value)?.to_string(),
            "volume-name" | "volfile-id" | "volume-id" => {
                let v = need_value(key, value)?.trim_start_matches('/');
                if v.contains('/') || v.is_empty() {
                    return Err(format!("mount option '{key}': bad volume name '{v}'"));
                }
                self.volume = v.to_string();
            }
            "subdir-mount" => {
                return Err(
                    "mount option 'subdir-mount': subdirectory mounts are not supported yet".into(),
                )
            }
            // Generic kernel flags.
            "nosuid" | "nodev" | "noexec" | "suid" | "dev" | "exec" | "sync" | "async"
            | "dirsync" | "noatime" | "atime" | "relatime" | "norelatime" | "strictatime"
            | "nodiratime" | "diratime" | "lazytime" | "nolazytime" | "iversion" | "noiversion"
            | "mand" | "nomand" => self.kernel_flags.push(key.to_string()),
            // mount(8)/fstab bookkeeping: meaningful to mount(8) only.
            "defaults" | "_netdev" | "nofail" | "auto" | "noauto" | "user" | "nouser" | "users"
            | "owner" | "group" | "loud" | "silent" | "bg" | "fg" => {}
            k if k.starts_with("x-") || k == "comment" => {}
            // Official options accepted for compatibility; caching and
            // threading are ours to decide.
            "gid-timeout"
            | "lru-limit"
            | "invalidate-limit"
            | "background-qlen"
            | "congestion-threshold"
            | "fetch-attempts"
            | "oom-score-adj"
            | "use-readdirp"
            | "event-history"
            | "auto-invalidation"
            | "no-root-squash"
            | "root-squash"
            | "attr-times-granularity"
            | "dump-fuse"
            | "fuse-flush-handle-interrupt"
            | "fuse-dev-eperm-ratelimit-ns"
            | "context"
            | "fscontext"
            | "defcontext"
            | "rootcontext"
            | "halo-max-latency"
            | "halo-max-replicas"
            | "halo-min-replicas"
            | "fopen-keep-cache"
            | "io-engine"
            | "xlator-option"
            | "fuse-mountopts"
            | "volfile-check"
            | "selinux"
            | "enable-ino32"
            | "mem-accounting"
            | "aux-gfid-mount"
            | "thin-client"
            | "resolve-gids"
            | "global-threading"
            | "localtime-logging"
            | "auto_unmount"
            | "worm" => self.ignored.push(opt.to_string()),
            _ => return Err(format!("unknown mount option '{opt}'")),
        }
        Ok(())
    }
}

fn need_value<'a>(key: &str, v: Option<&'a str>) -> Result<&'a str, String> {
    v.filter(|v| !v.is_empty())
        .ok_or_else(|| format!("mount option '{key}' needs a value ({key}=...)"))
}

fn yes_no(key: &str, v: &str) -> Result<bool, String> {
    match v {
        "yes" | "on" | "true" | "enable" | "1" => Ok(true),
        "no" | "off" | "false" | "disable" | "0" => Ok(false),
        _ => Err(format!("mount option '{key}': '{v}' is not yes or no")),
    }
}

/// Splits "HOST[,HOST...]:/VOLUME" (IPv6 hosts in brackets).
fn split_spec(spec: &str) -> Result<(Vec<String>, &str), String> {
    let bad = || format!("'{spec}' is not of the form HOST:/VOLUME");
    let (hosts, path) = if let Some(rest) = spec.strip_prefix('[') {
        let (h, p) = rest.split_once("]:").ok_or_else(bad)?;
        (vec![h.to_string()], p)
    } else {
        let (h, p) = spec.split_once(':').ok_or_else(bad)?;
        (h.split(',').map(str::to_string).collect(), p)
    };
    if hosts
        .iter()
        .any(|h| h.is_empty() || h.contains(char::is_whitespace))
    {
        return Err(bad());
    }
    Ok((hosts, path))
}

/// Splits on commas that are not inside double quotes (SELinux contexts
/// contain commas inside quotes).
fn split_options(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter().map(|o| o.trim().to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(opts: &str) -> Result<MountConfig, String> {
        let mut c = MountConfig::new("127.0.0.2:/vol", "/mnt/x".into())?;
        c.apply(opts)?;
        Ok(c)
    }

    #[test]
    fn fstab_line_options() {
        let c =
            cfg("defaults,_netdev,backup-volfile-servers=h2:h3,log-level=DEBUG,noatime").unwrap();
        assert_eq!(c.servers, ["127.0.0.2", "h2", "h3"]);
        assert_eq!(c.log_level, "DEBUG");
        assert_eq!(c.kernel_flags, ["noatime"]);
        assert_eq!(c.volume, "vol");
    }

    #[test]
    fn values_are_checked() {
        let c = cfg(
            "attribute-timeout=0.5,entry-timeout=0,negative-timeout=2,direct-io-mode=enable,ro",
        )
        .unwrap();
        assert_eq!(c.attribute_timeout, Duration::from_millis(500));
        assert_eq!(c.negative_timeout, Duration::from_secs(2));
        assert_eq!(c.direct_io, DirectIo::Enable);
        assert!(c.read_only);
        for bad in [
            "attribute-timeout=x",
            "attribute-timeout=-1",
            "direct-io-mode=maybe",
            "log-level=LOUD",
            "reader-thread-count=0",
            "server-port=70000",
            "transport=rdma",
            "frobnicate",
            "log-file",
        ] {
            let e = cfg(bad).unwrap_err();
            assert!(
                e.contains("mount option") || e.contains("unknown"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn specs() {
        assert!(MountConfig::new("h:/v/sub", "/m".into()).is_err());
        assert!(MountConfig::new("h", "/m".into()).is_err());
        assert!(MountConfig::new("h:/", "/m".into()).is_err());
        let c = MountConfig::new("h1,h2:vol", "/m".into()).unwrap();
        assert_eq!((c.servers.len(), c.volume.as_str()), (2, "vol"));
        let c = MountConfig::new("[::1]:/vol", "/m".into()).unwrap();
        assert_eq!(c.servers, ["::1"]);
        assert_eq!(
            split_options("a,context=\"x,y\",b"),
            ["a", "context=\"x,y\"", "b"]
        );
    }
}

//! Logging through tracing, with the official client's level names, to
//! stderr (foreground and one-shot commands), a file (the daemon's default,
//! under /var/log/glusterfs-rs/) or syslog (`log-file=syslog`).

use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub enum Target {
    Stderr,
    File(PathBuf),
    Syslog,
}

/// The tracing filter for an official log level name.
pub fn filter_for(level: &str) -> Result<&'static str, String> {
    Ok(match level.to_ascii_uppercase().as_str() {
        "TRACE" => "trace",
        "DEBUG" => "debug",
        "INFO" => "info",
        "WARNING" | "WARN" => "warn",
        "ERROR" | "CRITICAL" => "error",
        "NONE" => "off",
        other => {
            return Err(format!(
                "unknown log level '{other}' (TRACE, DEBUG, INFO, WARNING, ERROR, CRITICAL, NONE)"
            ))
        }
    })
}

/// The default log file of a mount: like upstream's /var/log/glusterfs/mnt-x.log.
pub fn default_log_file(mountpoint: &Path) -> PathBuf {
    let name = mountpoint
        .to_string_lossy()
        .trim_matches('/')
        .replace('/', "-");
    let name = if name.is_empty() { "root".into() } else { name };
    PathBuf::from("/var/log/glusterfs-rs").join(format!("{name}.log"))
}

pub fn init(level: &str, target: Target) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::new(filter_for(level)?);
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let result = match target {
        Target::Stderr => builder.with_writer(std::io::stderr).try_init(),
        Target::File(path) => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("cannot create log directory {}: {e}", dir.display()))?;
            }
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| format!("cannot open log file {}: {e}", path.display()))?;
            builder
                .with_ansi(false)
                .with_writer(Mutex::new(f))
                .try_init()
        }
        Target::Syslog => {
            let w =
                Syslog::connect().map_err(|e| format!("cannot reach syslog at /dev/log: {e}"))?;
            builder
                .with_ansi(false)
                .without_time()
                .with_writer(Mutex::new(w))
                .try_init()
        }
    };
    result.map_err(|e| format!("cannot set up logging: {e}"))
}

/// A minimal RFC 3164 client on the local syslog socket.
struct Syslog {
    sock: UnixDatagram,
    tag: String,
}

impl Syslog {
    fn connect() -> std::io::Result<Syslog> {
        let sock = UnixDatagram::unbound()?;
        sock.connect("/dev/log")?;
        Ok(Syslog {
            sock,
            tag: format!("glusterfs-rs[{}]", std::process::id()),
        })
    }
}

impl Write for Syslog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // facility daemon (3), severity info (6): the level is in the text.
        let mut msg = format!("<30>{}: ", self.tag).into_bytes();
        msg.extend_from_slice(buf.strip_suffix(b"\n").unwrap_or(buf));
        // A lost log line must never fail the file system.
        let _ = self.sock.send(&msg);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            default_log_file(Path::new("/mnt/vol")),
            PathBuf::from("/var/log/glusterfs-rs/mnt-vol.log")
        );
        assert_eq!(filter_for("warning"), Ok("warn"));
        assert!(filter_for("chatty").is_err());
    }
}

//! `gluster://HOST[:PORT]/VOLUME[/PATH]` URLs, as qemu writes them.

use crate::error::{Error, Result};
use crate::mgmt::GLUSTERD_PORT;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlusterUrl {
    pub host: String,
    pub port: u16,
    pub volume: String,
    /// Absolute path inside the volume ("/" for the root).
    pub path: String,
}

impl std::str::FromStr for GlusterUrl {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: &str| {
            Error::Invalid(format!(
                "malformed URL '{s}': {why} (expected gluster://HOST[:PORT]/VOLUME[/PATH])"
            ))
        };
        let rest = s
            .strip_prefix("gluster://")
            .or_else(|| s.strip_prefix("gluster+tcp://"))
            .ok_or_else(|| bad("scheme must be gluster://"))?;
        let (authority, path) = rest.split_once('/').ok_or_else(|| bad("no volume"))?;
        let (host, port) = if let Some(h) = authority.strip_prefix('[') {
            // [v6addr]:port
            let (h, p) = h.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
            (h.to_string(), p.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (authority.to_string(), None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = match port {
            None | Some("") => GLUSTERD_PORT,
            Some(p) => p.parse().map_err(|_| bad("port is not a number 1-65535"))?,
        };
        if port == 0 {
            return Err(bad("port 0"));
        }
        let (volume, path) = match path.split_once('/') {
            Some((v, p)) => (v, format!("/{p}")),
            None => (path, "/".to_string()),
        };
        if volume.is_empty() {
            return Err(bad("no volume"));
        }
        if path.contains('\0') || s.contains('?') {
            return Err(bad("query strings and NUL are not supported"));
        }
        Ok(GlusterUrl {
            host,
            port,
            volume: volume.to_string(),
            path,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let u: GlusterUrl = "gluster://127.0.0.2/vol/dir/img.raw".parse().unwrap();
        assert_eq!(
            u,
            GlusterUrl {
                host: "127.0.0.2".into(),
                port: 24007,
                volume: "vol".into(),
                path: "/dir/img.raw".into()
            }
        );
        let u: GlusterUrl = "gluster://h:1234/v".parse().unwrap();
        assert_eq!((u.port, u.path.as_str()), (1234, "/"));
        let u: GlusterUrl = "gluster://[::1]:24007/v/x".parse().unwrap();
        assert_eq!(u.host, "::1");
    }

    #[test]
    fn rejects_garbage() {
        for s in [
            "http://h/v",
            "gluster://",
            "gluster://h",
            "gluster:///v",
            "gluster://h:x/v",
            "gluster://h:70000/v",
            "gluster://h//x",
        ] {
            let e = s.parse::<GlusterUrl>().unwrap_err();
            assert!(e.to_string().contains("malformed URL"), "{s}: {e}");
        }
    }
}

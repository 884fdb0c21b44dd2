//! mount.glusterfs-rs (built as mount-glusterfs-rs, installed under the
//! dotted name mount(8) looks for): what mount(8) runs for `mount -t glusterfs-rs` and
//! for fstab lines of type glusterfs-rs:
//!
//!   mount.glusterfs-rs SPEC DIR [-sfnv] [-N NS] [-o OPTIONS] [-t TYPE]
//!
//! It takes the official mount.glusterfs option names, returns only when
//! the mount is live, and exits 32 (mount failure) or 1 (usage) with a
//! clear message otherwise.

use glusterfs_rs::daemon::{self, EXIT_MOUNT_FAILURE, EXIT_USAGE};
use glusterfs_rs::options::MountConfig;
use std::process::ExitCode;

struct Args {
    spec: String,
    dir: String,
    options: Vec<String>,
    fake: bool,
    verbose: bool,
    foreground: bool,
}

fn usage() -> String {
    "usage: mount.glusterfs-rs HOST:/VOLUME MOUNTPOINT [-o OPTIONS] [-f] [-n] [-s] [-v]".into()
}

fn parse(argv: &[String]) -> Result<Args, String> {
    let mut pos = Vec::new();
    let mut options = Vec::new();
    let (mut fake, mut verbose, mut foreground) = (false, false, false);
    let mut it = argv.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-o" => options.push(
                it.next()
                    .ok_or_else(|| format!("-o needs options\n{}", usage()))?
                    .clone(),
            ),
            s if s.starts_with("-o") => options.push(s[2..].to_string()),
            // -t TYPE and -N NAMESPACE carry a value we do not need.
            "-t" | "-N" => {
                it.next();
            }
            "-f" => fake = true,
            "-v" => verbose = true,
            "-n" | "-s" | "-r" | "-w" => {}
            "--foreground" | "-d" => foreground = true,
            "-h" | "--help" => return Err(usage()),
            s if s.starts_with('-') && s.len() > 1 => {
                return Err(format!("unknown flag '{s}'\n{}", usage()))
            }
            _ => pos.push(a.clone()),
        }
    }
    match <[String; 2]>::try_from(pos) {
        Ok([spec, dir]) => Ok(Args {
            spec,
            dir,
            options,
            fake,
            verbose,
            foreground,
        }),
        Err(_) => Err(usage()),
    }
}

fn main() -> ExitCode {
    glusterfs_rs::tune_allocator();
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse(&argv) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("mount.glusterfs-rs: {e}");
            return ExitCode::from(EXIT_USAGE as u8);
        }
    };
    let mut cfg = match MountConfig::new(&args.spec, args.dir.clone().into()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mount.glusterfs-rs: {e}");
            return ExitCode::from(EXIT_MOUNT_FAILURE as u8);
        }
    };
    for o in &args.options {
        if let Err(e) = cfg.apply(o) {
            eprintln!("mount.glusterfs-rs: {e}");
            return ExitCode::from(EXIT_MOUNT_FAILURE as u8);
        }
    }
    if args.verbose {
        eprintln!("mount.glusterfs-rs: mounting {} on {}", args.spec, args.dir);
    }
    if args.fake {
        return ExitCode::SUCCESS;
    }
    ExitCode::from(daemon::run(cfg, args.foreground) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn mount8_argument_forms() {
        let a = parse(&v("h:/vol /mnt/x -o rw,_netdev -t glusterfs-rs")).unwrap();
        assert_eq!((a.spec.as_str(), a.dir.as_str()), ("h:/vol", "/mnt/x"));
        assert_eq!(a.options, ["rw,_netdev"]);
        let a = parse(&v("-f -v h:/vol /m -orw")).unwrap();
        assert!(a.fake && a.verbose);
        assert_eq!(a.options, ["rw"]);
        assert!(parse(&v("h:/vol")).is_err());
        assert!(parse(&v("h:/vol /m -o")).is_err());
        assert!(parse(&v("h:/vol /m -Z")).is_err());
    }
}

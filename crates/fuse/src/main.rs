//! glusterfs-rs: a native GlusterFS client. One-shot commands on
//! gluster:// URLs (connect, do the work, exit in milliseconds).

mod cli;

use glusterfs_rs::daemon;
use glusterfs_rs::options::MountConfig;
mod size;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(name = "glusterfs-rs", version, about = "Native GlusterFS client")]
struct Args {
    /// Log level: TRACE, DEBUG, INFO, WARNING, ERROR, CRITICAL, NONE.
    #[arg(long, global = true, default_value = "WARNING")]
    log_level: String,
    #[command(subcommand)]
    cmd: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Mount a volume: glusterfs-rs mount HOST:/VOLUME MOUNTPOINT [-o OPTIONS]
    Mount {
        /// HOST:/VOLUME (HOST may be a comma-separated list).
        spec: String,
        mountpoint: std::path::PathBuf,
        /// Mount options, as for mount.glusterfs (comma-separated).
        #[arg(short = 'o')]
        options: Option<String>,
        /// Stay in the foreground, logging to stderr.
        #[arg(short = 'f', long, alias = "debug")]
        foreground: bool,
    },
    /// List a directory: gluster://HOST/VOLUME/DIR
    Ls {
        /// Long listing (mode, links, owner, size, name).
        #[arg(short = 'l')]
        long: bool,
        url: String,
    },
    /// Show the attributes of a file or directory.
    Stat { url: String },
    /// Write a file's contents to standard output.
    Cat { url: String },
    /// Write standard input (or --file) into a file, creating or truncating it.
    Put {
        /// Read from this file instead of standard input.
        #[arg(short = 'f', long = "file")]
        file: Option<std::path::PathBuf>,
        url: String,
    },
    /// Remove a file (or an empty directory with -d).
    Rm {
        #[arg(short = 'd')]
        dir: bool,
        url: String,
    },
    /// Make a directory.
    Mkdir {
        /// Make parents as needed; no error if it exists.
        #[arg(short = 'p')]
        parents: bool,
        url: String,
    },
    /// Set a file's size, creating it if missing (a sparse raw image).
    Truncate {
        /// SIZE with an optional suffix K, M, G, T (powers of 1024) or KB, MB, GB, TB.
        #[arg(short = 's', long = "size")]
        size: String,
        url: String,
    },
}

fn main() -> ExitCode {
    glusterfs_rs::tune_allocator();
    let args = Args::parse();
    if let Command::Mount {
        spec,
        mountpoint,
        options,
        foreground,
    } = args.cmd
    {
        let code = mount(
            &spec,
            mountpoint,
            options.as_deref(),
            foreground,
            &args.log_level,
        );
        return ExitCode::from(code as u8);
    }
    if let Err(e) = cli::init_logging(&args.log_level) {
        eprintln!("glusterfs-rs: {e}");
        return ExitCode::from(1);
    }
    match cli::run(args.cmd) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("glusterfs-rs: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn mount(
    spec: &str,
    mountpoint: std::path::PathBuf,
    options: Option<&str>,
    foreground: bool,
    log_level: &str,
) -> i32 {
    let mut cfg = match MountConfig::new(spec, mountpoint) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("glusterfs-rs: {e}");
            return daemon::EXIT_USAGE;
        }
    };
    // --log-level applies unless -o log-level= says otherwise.
    if log_level != "WARNING" {
        cfg.log_level = log_level.to_ascii_uppercase();
    }
    if let Err(e) = cfg.apply(options.unwrap_or("")) {
        eprintln!("glusterfs-rs: {e}");
        return daemon::EXIT_USAGE;
    }
    daemon::run(cfg, foreground)
}

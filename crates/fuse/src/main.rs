//! glusterfs-rs: a native GlusterFS client. One-shot commands on
//! gluster:// URLs (connect, do the work, exit in milliseconds).

mod cli;
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
    let args = Args::parse();
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

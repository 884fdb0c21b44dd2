//! One-shot commands: each connects, does its work, closes and exits.
//! The whole lifecycle takes milliseconds because closing a connection
//! never waits for a timer.

use crate::size::parse_size;
use crate::Command;
use anyhow::{bail, Context, Result};
use client::url::GlusterUrl;
use client::{Ctx, Iatt, Volume, VolumeOptions};
use proto::errno;
use std::io::{Read, Write};

/// Sets up tracing on stderr at an official-client log level name.
pub fn init_logging(level: &str) -> Result<()> {
    glusterfs_rs::logging::init(level, glusterfs_rs::logging::Target::Stderr)
        .map_err(anyhow::Error::msg)
}

pub fn run(cmd: Command) -> Result<()> {
    // One thread is plenty for one-shot work and starts fastest.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        let url: GlusterUrl = match &cmd {
            Command::Mount { .. } => anyhow::bail!("mount is not a one-shot command"),
            Command::Ls { url, .. }
            | Command::Stat { url }
            | Command::Cat { url }
            | Command::Put { url, .. }
            | Command::Rm { url, .. }
            | Command::Mkdir { url, .. }
            | Command::Truncate { url, .. } => url.parse()?,
        };
        // Validate arguments before touching the network.
        let size = match &cmd {
            Command::Truncate { size, .. } => Some(parse_size(size).map_err(anyhow::Error::msg)?),
            _ => None,
        };
        let opts = VolumeOptions {
            port: url.port,
            ..Default::default()
        };
        let vol = Volume::connect(std::slice::from_ref(&url.host), &url.volume, opts).await?;
        let result = execute(&vol, &url, cmd, size).await;
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), vol.settle()).await;
        vol.close();
        result.with_context(|| format!("gluster://{}/{}{}", url.host, url.volume, url.path))
    })
}

async fn execute(vol: &Volume, url: &GlusterUrl, cmd: Command, size: Option<u64>) -> Result<()> {
    let ctx = Ctx::current();
    let path = url.path.as_str();
    match cmd {
        Command::Mount { .. } => bail!("mount is not a one-shot command"),
        Command::Ls { long, .. } => {
            let dir = vol.resolve(&ctx, path).await?;
            if !dir.is_dir() {
                print_entry(
                    &mut std::io::stdout(),
                    long,
                    path.rsplit('/').next().unwrap_or(path).as_bytes(),
                    Some(&dir),
                )?;
                return Ok(());
            }
            let mut entries = vol.read_dir_all(&ctx, dir.gfid).await?;
            entries.retain(|e| e.name != b"." && e.name != b"..");
            entries.sort_by(|a, b| a.name.cmp(&b.name));
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            for e in &entries {
                print_entry(&mut out, long, &e.name, e.stat.as_ref())?;
            }
            out.flush()?;
        }
        Command::Stat { .. } => {
            let st = vol.resolve(&ctx, path).await?;
            print_stat(path, &st);
        }
        Command::Cat { .. } => {
            let st = vol.resolve(&ctx, path).await?;
            if st.is_dir() {
                bail!("is a directory");
            }
            let fd = vol.open(&ctx, st.gfid, libc::O_RDONLY as u32).await?;
            let mut out = std::io::stdout().lock();
            let mut off = 0u64;
            let res = async {
                loop {
                    let data = fd.read(&ctx, off, 4 << 20).await?;
                    if data.is_empty() {
                        break;
                    }
                    out.write_all(&data)?;
                    off += data.len() as u64;
                }
                out.flush()?;
                Ok::<_, anyhow::Error>(())
            }
            .await;
            fd.release().await;
            res?;
        }
        Command::Put { file, .. } => {
            let mut input: Box<dyn Read> = match &file {
                Some(p) => Box::new(
                    std::fs::File::open(p)
                        .with_context(|| format!("cannot open {}", p.display()))?,
                ),
                None => Box::new(std::io::stdin().lock()),
            };
            let (parent, name) = vol.resolve_parent(&ctx, path).await?;
            let flags = (libc::O_WRONLY | libc::O_TRUNC) as u32;
            let (fd, _) = vol
                .create(&ctx, parent.gfid, name.as_bytes(), flags, 0o644, 0o022)
                .await?;
            let mut buf = vec![0u8; 4 << 20];
            let mut off = 0u64;
            let res = async {
                loop {
                    let n = read_full(&mut input, &mut buf)?;
                    if n == 0 {
                        break;
                    }
                    let (w, _) = fd.write(&ctx, off, &buf[..n]).await?;
                    if w != n {
                        bail!("short write: {w} of {n} bytes at offset {off}");
                    }
                    off += n as u64;
                }
                fd.flush(&ctx).await?;
                Ok(())
            }
            .await;
            fd.release().await;
            res?;
        }
        Command::Rm { dir, .. } => {
            let (parent, name) = vol.resolve_parent(&ctx, path).await?;
            if dir {
                vol.rmdir(&ctx, parent.gfid, name.as_bytes()).await?;
            } else {
                let st = vol.lookup(&ctx, parent.gfid, name.as_bytes()).await?;
                if st.is_dir() {
                    bail!("is a directory (use rm -d for an empty directory)");
                }
                vol.unlink(&ctx, parent.gfid, name.as_bytes()).await?;
            }
        }
        Command::Mkdir { parents, .. } => {
            if parents {
                let mut cur = vol.resolve(&ctx, "/").await?;
                for comp in path.split('/').filter(|c| !c.is_empty()) {
                    cur = match vol.lookup(&ctx, cur.gfid, comp.as_bytes()).await {
                        Ok(st) if st.is_dir() => st,
                        Ok(_) => bail!("{comp}: exists and is not a directory"),
                        Err(e) if e.is_enoent() => {
                            match vol
                                .mkdir(&ctx, cur.gfid, comp.as_bytes(), 0o755, 0o022)
                                .await
                            {
                                Ok(e) => e.stat,
                                // Lost a race with another client: use theirs.
                                Err(e) if e.errno() == errno::EEXIST => {
                                    vol.lookup(&ctx, cur.gfid, comp.as_bytes()).await?
                                }
                                Err(e) => return Err(e.into()),
                            }
                        }
                        Err(e) => return Err(e.into()),
                    };
                }
            } else {
                let (parent, name) = vol.resolve_parent(&ctx, path).await?;
                vol.mkdir(&ctx, parent.gfid, name.as_bytes(), 0o755, 0o022)
                    .await?;
            }
        }
        Command::Truncate { .. } => {
            let size = size.unwrap_or(0);
            let (parent, name) = vol.resolve_parent(&ctx, path).await?;
            match vol.lookup(&ctx, parent.gfid, name.as_bytes()).await {
                Ok(st) => {
                    if st.is_dir() {
                        bail!("is a directory");
                    }
                    vol.truncate(&ctx, st.gfid, size).await?;
                }
                Err(e) if e.is_enoent() => {
                    let (fd, _) = vol
                        .create(
                            &ctx,
                            parent.gfid,
                            name.as_bytes(),
                            libc::O_WRONLY as u32,
                            0o644,
                            0o022,
                        )
                        .await?;
                    let res = fd.ftruncate(&ctx, size).await;
                    fd.release().await;
                    res?;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn mode_string(mode: u32) -> String {
    let t = match mode & 0o170000 {
        0o040000 => 'd',
        0o120000 => 'l',
        0o010000 => 'p',
        0o140000 => 's',
        0o020000 => 'c',
        0o060000 => 'b',
        _ => '-',
    };
    let mut s = String::from(t);
    for shift in [6, 3, 0] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    s
}

fn print_entry(out: &mut dyn Write, long: bool, name: &[u8], st: Option<&Iatt>) -> Result<()> {
    let name = String::from_utf8_lossy(name);
    match (long, st) {
        (true, Some(st)) => writeln!(
            out,
            "{} {:>3} {:>5} {:>5} {:>12} {}",
            mode_string(st.mode),
            st.nlink,
            st.uid,
            st.gid,
            st.size,
            name
        )?,
        (true, None) => writeln!(
            out,
            "?????????? {:>3} {:>5} {:>5} {:>12} {}",
            "?", "?", "?", "?", name
        )?,
        (false, _) => writeln!(out, "{name}")?,
    }
    Ok(())
}

fn print_stat(path: &str, st: &Iatt) {
    println!("  File: {path}");
    println!(
        "  Size: {:<12} Blocks: {:<10} IO Block: {}",
        st.size, st.blocks, st.blksize
    );
    println!(
        "  Gfid: {}   Inode: {}   Links: {}",
        st.gfid, st.ino, st.nlink
    );
    println!(
        "Access: ({:04o}/{})  Uid: {}   Gid: {}",
        st.mode & 0o7777,
        mode_string(st.mode),
        st.uid,
        st.gid
    );
    println!("Access: {}.{:09}", st.atime, st.atime_nsec);
    println!("Modify: {}.{:09}", st.mtime, st.mtime_nsec);
    println!("Change: {}.{:09}", st.ctime, st.ctime_nsec);
}

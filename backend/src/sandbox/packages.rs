//! The sandbox's extra Python packages (greenlet, gevent): carried in the binary as a tar packed
//! by build.rs, unpacked once per version into a cache directory that sandboxes bind read-only.

use anyhow::{bail, Context, Result};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The site-packages of `.classbook/venv` at build time, as a tar (empty: built without it).
static PACK: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/packages.tar"));
/// The first 16 hex digits of the tar's SHA-256: names the unpacked tree, so a binary never
/// uses another version's packages and equal binaries share one tree.
const PACK_ID: &str = env!("CLASSBOOK_PACKAGES_ID");

/// The directory sandboxes put on their Python path, or `None` (the reason is logged once).
/// `CLASSBOOK_PACKAGES` names one to use as it is; otherwise the packages this binary carries,
/// unpacked under [`cache_root`] on first use.
pub fn dir() -> Option<PathBuf> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| match locate() {
        Ok(dir) => dir,
        Err(e) => {
            tracing::error!("{e:#}");
            None
        }
    })
    .clone()
}

fn locate() -> Result<Option<PathBuf>> {
    if let Some(dir) = std::env::var_os("CLASSBOOK_PACKAGES") {
        let dir = PathBuf::from(dir);
        if !dir.is_dir() {
            bail!(
                "CLASSBOOK_PACKAGES={} is not a directory: sandboxes get no greenlet or gevent, and lessons that \
                 import them fail",
                dir.display()
            );
        }
        return Ok(Some(dir));
    }
    if PACK.is_empty() {
        tracing::warn!(
            "this classbook was built without greenlet and gevent (scripts/setup.sh makes them before building): \
             lessons that import them fail"
        );
        return Ok(None);
    }
    let root = cache_root();
    let dir = unpack(PACK, PACK_ID, &root).with_context(|| {
        format!(
            "cannot unpack the sandbox's Python packages (greenlet, gevent) into {}, so lessons that import them \
             fail; make that directory writable, or set CLASSBOOK_PACKAGES to a site-packages directory",
            root.display()
        )
    })?;
    warn_if_unreachable(&dir);
    Ok(Some(dir))
}

/// Where versions are unpacked: systemd's `CacheDirectory=` (`$CACHE_DIRECTORY`) for the
/// service; `/var/cache/classbook` for root (sandboxes then run as uids 61000+, which must
/// reach it, and root's home is closed to them); otherwise `$XDG_CACHE_HOME/classbook` or
/// `~/.cache/classbook` (sandboxes run as that user); the temp dir as a last resort.
pub fn cache_root() -> PathBuf {
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dirs) = std::env::var("CACHE_DIRECTORY").ok().filter(|v| !v.is_empty()) {
        // systemd joins several CacheDirectory= entries with ':'; ours has one.
        return PathBuf::from(dirs.split(':').next().unwrap_or(&dirs));
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return PathBuf::from("/var/cache/classbook");
    }
    match (var("XDG_CACHE_HOME").filter(|p| p.is_absolute()), var("HOME")) {
        (Some(xdg), _) => xdg.join("classbook"),
        (None, Some(home)) => home.join(".cache/classbook"),
        // SAFETY: getuid has no preconditions.
        (None, None) => std::env::temp_dir().join(format!("classbook-{}", unsafe { libc::getuid() })),
    }
}

/// Unpacks `tar` into `root/packages-<id>` unless it is there, and returns that directory.
/// The tree is made under a temporary name, flushed to disk, then renamed into place, so the
/// final name only ever holds a whole tree: two servers starting at once both end up using the
/// one that was renamed first, and a crash leaves only a temporary directory, removed later.
pub fn unpack(tar: &[u8], id: &str, root: &Path) -> Result<PathBuf> {
    let dir = root.join(format!("packages-{id}"));
    if dir.is_dir() {
        return Ok(dir);
    }
    if !root.is_dir() {
        std::fs::create_dir_all(root)?;
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755))?;
    }
    remove_abandoned(root);
    static SERIAL: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let serial = SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = root.join(format!(".packages-{id}.tmp-{}-{serial}", std::process::id()));
    let made = fill(tar, &tmp).and_then(|()| {
        sync_filesystem(&tmp)?;
        std::fs::rename(&tmp, &dir)
    });
    match made {
        Ok(()) => {
            tracing::info!("unpacked the sandbox's Python packages (greenlet, gevent) into {}", dir.display());
            Ok(dir)
        }
        // Another server renamed its copy into place first: use that one.
        Err(_) if dir.is_dir() => {
            let _ = std::fs::remove_dir_all(&tmp);
            Ok(dir)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            Err(e.into())
        }
    }
}

/// Writes the tar's entries into a new directory `tmp` (modes from the tar: 0755 and 0644).
fn fill(tar: &[u8], tmp: &Path) -> std::io::Result<()> {
    std::fs::create_dir(tmp)?;
    std::fs::set_permissions(tmp, std::fs::Permissions::from_mode(0o755))?;
    for entry in tar::Archive::new(tar).entries()? {
        let mut entry = entry?;
        if !entry.unpack_in(tmp)? {
            let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            return Err(std::io::Error::other(format!("the packed file {path} would land outside the directory")));
        }
    }
    Ok(())
}

/// Removes temporary trees of processes that no longer run (a crash or a power cut mid-unpack).
fn remove_abandoned(root: &Path) {
    for entry in std::fs::read_dir(root).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(".packages-").and_then(|r| r.split_once(".tmp-")).map(|(_, r)| r) else {
            continue;
        };
        let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|pid| pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Flushes the file system holding `path`, so the rename that follows never publishes files
/// whose contents are not on disk yet.
fn sync_filesystem(path: &Path) -> std::io::Result<()> {
    let dir = std::fs::File::open(path)?;
    // SAFETY: syncfs on an fd we own.
    if unsafe { libc::syncfs(std::os::fd::AsRawFd::as_raw_fd(&dir)) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// As root, sandboxes run as uids 61000+: each directory above the tree must let others through.
fn warn_if_unreachable(dir: &Path) {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return;
    }
    for up in dir.ancestors() {
        let closed = std::fs::metadata(up).is_ok_and(|m| m.permissions().mode() & 0o001 == 0);
        if closed {
            tracing::error!(
                "sandboxes cannot reach {} because {} is closed to other users (chmod o+x it): lessons that import \
                 greenlet or gevent will fail",
                dir.display(),
                up.display()
            );
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small tar like build.rs makes: a package with a module and an executable library.
    fn sample() -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        let mut add = |path: &str, mode: u32, data: &[u8]| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(if data.is_empty() && mode == 0o755 { tar::EntryType::Directory } else { tar::EntryType::Regular });
            h.set_mode(mode);
            h.set_size(data.len() as u64);
            tar.append_data(&mut h, path, data).unwrap();
        };
        add("pkg", 0o755, b"");
        add("pkg/__init__.py", 0o644, b"print('hello')\n");
        add("pkg/_speedups.so", 0o755, b"\x7fELF...");
        tar.into_inner().unwrap()
    }

    fn temp_root(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("classbook-packages-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("cache")
    }

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    fn leftovers(root: &Path) -> Vec<String> {
        std::fs::read_dir(root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp-"))
            .collect()
    }

    #[test]
    fn the_tree_is_world_readable_and_unpacked_only_once() {
        let root = temp_root("once");
        let dir = unpack(&sample(), "abc", &root).unwrap();
        assert_eq!(dir, root.join("packages-abc"));
        assert_eq!(std::fs::read_to_string(dir.join("pkg/__init__.py")).unwrap(), "print('hello')\n");
        assert_eq!(mode(&root), 0o755);
        assert_eq!(mode(&dir), 0o755);
        assert_eq!(mode(&dir.join("pkg")), 0o755);
        assert_eq!(mode(&dir.join("pkg/__init__.py")), 0o644);
        assert_eq!(mode(&dir.join("pkg/_speedups.so")), 0o755);
        assert!(leftovers(&root).is_empty());
        // A second start finds the tree and leaves it alone.
        std::fs::write(dir.join("pkg/__init__.py"), "changed").unwrap();
        assert_eq!(unpack(&sample(), "abc", &root).unwrap(), dir);
        assert_eq!(std::fs::read_to_string(dir.join("pkg/__init__.py")).unwrap(), "changed");
        let _ = std::fs::remove_dir_all(root.parent().unwrap());
    }

    #[test]
    fn servers_starting_together_all_get_the_whole_tree() {
        let root = temp_root("race");
        let tar = sample();
        let dirs: Vec<PathBuf> = std::thread::scope(|s| {
            let starts: Vec<_> = (0..6).map(|_| s.spawn(|| unpack(&tar, "race", &root).unwrap())).collect();
            starts.into_iter().map(|t| t.join().unwrap()).collect()
        });
        assert!(dirs.iter().all(|d| *d == root.join("packages-race")), "{dirs:?}");
        assert!(dirs[0].join("pkg/_speedups.so").is_file());
        assert!(leftovers(&root).is_empty(), "{:?}", leftovers(&root));
        let _ = std::fs::remove_dir_all(root.parent().unwrap());
    }

    #[test]
    fn a_half_tree_left_by_a_crash_is_removed_and_never_used() {
        let root = temp_root("crash");
        // What a server that died mid-unpack leaves: a temporary tree of a pid that is gone.
        let half = root.join(".packages-crash.tmp-2147483646-0");
        std::fs::create_dir_all(half.join("pkg")).unwrap();
        let dir = unpack(&sample(), "crash", &root).unwrap();
        assert!(!half.exists());
        assert!(dir.join("pkg/__init__.py").is_file());
        let _ = std::fs::remove_dir_all(root.parent().unwrap());
    }
}

//! Build steps of the classbook binary: makes sure ../dist exists (the page is embedded from it;
//! native `cargo test` does not need it built), and packs the sandbox's extra Python packages.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dist = root.join("dist");
    if !dist.exists() {
        std::fs::create_dir_all(&dist).expect("create ../dist");
    }
    println!("cargo:rerun-if-changed=../dist");
    pack_site_packages(&root.join(".classbook/venv"));
}

/// What pip leaves in a venv's site-packages that no program needs at run time: pip and
/// setuptools themselves (Debian's python3 has neither), and bytecode caches (most of gevent is
/// compiled extensions: without caches, `import gevent` took 46 ms instead of 40 here).
fn skipped(name: &str) -> bool {
    const TOOLS: [&str; 4] = ["pip", "setuptools", "pkg_resources", "_distutils_hack"];
    let dist_info_of_tool = name.ends_with(".dist-info") && TOOLS.iter().any(|t| name.starts_with(&format!("{t}-")));
    TOOLS.contains(&name)
        || dist_info_of_tool
        || name == "distutils-precedence.pth"
        || name == "__pycache__"
        || name.ends_with(".pyc")
}

/// The packages (greenlet, gevent and what they need) are the site-packages of `venv`, made by
/// scripts/setup.sh with Debian's python3 before the binary is built. They become
/// `OUT_DIR/packages.tar`, which `sandbox::packages` embeds and unpacks at run time, and
/// `CLASSBOOK_PACKAGES_ID`, the first 16 hex digits of the tar's SHA-256 (empty when there is
/// no venv: the binary then carries no packages, and cargo prints a warning).
fn pack_site_packages(venv: &Path) {
    // Watch the venv whether or not it is made yet (a watched path that does not exist would
    // rerun this script on every build); setup.sh replaces an empty one.
    if std::fs::create_dir_all(venv).is_ok() {
        println!("cargo:rerun-if-changed={}", venv.display());
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("packages.tar");
    let tar = match site_packages(venv) {
        Some(dir) => tar_of(&dir).unwrap_or_else(|e| panic!("cannot pack {}: {e}", dir.display())),
        None => {
            println!(
                "cargo:warning=no {}/lib/python3.*/site-packages: this classbook carries no greenlet/gevent for \
                 sandboxes (scripts/setup.sh makes the venv before building)",
                venv.display()
            );
            Vec::new()
        }
    };
    std::fs::write(&out, &tar).expect("write packages.tar");
    let id = if tar.is_empty() {
        String::new()
    } else {
        Sha256::digest(&tar).iter().take(8).map(|b| format!("{b:02x}")).collect()
    };
    println!("cargo:rustc-env=CLASSBOOK_PACKAGES_ID={id}");
}

/// `venv/lib/python3.X/site-packages`, when the venv has one.
fn site_packages(venv: &Path) -> Option<PathBuf> {
    let lib = std::fs::read_dir(venv.join("lib")).ok()?;
    let mut found: Vec<PathBuf> = lib
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("python3."))
        .map(|e| e.path().join("site-packages"))
        .filter(|p| p.is_dir())
        .collect();
    found.sort();
    found.pop()
}

/// A tar of `dir`'s contents, in name order, with fixed times and owners and modes 0755/0644
/// (world-readable: sandboxes run as other uids), so equal trees give equal bytes.
fn tar_of(dir: &Path) -> std::io::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    tar.mode(tar::HeaderMode::Deterministic);
    tar.follow_symlinks(false);
    add_dir(&mut tar, dir, Path::new(""))?;
    tar.into_inner()
}

fn add_dir(tar: &mut tar::Builder<Vec<u8>>, dir: &Path, rel: &Path) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        if skipped(&name.to_string_lossy()) {
            continue;
        }
        let (path, rel) = (entry.path(), rel.join(&name));
        let kind = entry.file_type()?;
        if kind.is_dir() {
            tar.append_dir(&rel, &path)?;
            add_dir(tar, &path, &rel)?;
        } else if kind.is_file() {
            tar.append_path_with_name(&path, &rel)?;
        } else {
            println!("cargo:warning=not packed (not a file or directory): {}", path.display());
        }
    }
    Ok(())
}

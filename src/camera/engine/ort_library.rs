//! Where the onnxruntime shared library is: the engine `auto` uses
//! onnxruntime wherever one can be found, without a flag.
//!
//! Owns the search order only: the path given (`--onnxruntime-library`),
//! `ORT_DYLIB_PATH`, the `onnxruntime` wheel inside the active virtual
//! environment (`VIRTUAL_ENV`) or a `.venv*` folder of the working
//! directory or of the source checkout (where `scripts/test.sh` installs
//! it), the user's site-packages, then the system's loader path by name.
//! Never loads the library: the engine does, and falls back when that
//! fails. Hand-written because no crate locates an onnxruntime wheel.

use std::path::{Path, PathBuf};

/// Where a library was found, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct Located {
    pub path: PathBuf,
    pub source: &'static str,
}

/// The library's name for the system's dynamic loader to search.
pub const SYSTEM_NAME: &str = "libonnxruntime.so";

/// The first library of the search order. `explicit` (a path given by the
/// user) wins even when it does not exist, so that the error names it.
pub fn locate(explicit: Option<&Path>) -> Located {
    if let Some(path) = explicit {
        return Located {
            path: path.to_owned(),
            source: "given",
        };
    }
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        return Located {
            path: PathBuf::from(path),
            source: "ORT_DYLIB_PATH",
        };
    }
    let venvs = std::env::var_os("VIRTUAL_ENV").map(PathBuf::from);
    if let Some(path) = venvs.as_deref().and_then(in_venv) {
        return Located {
            path,
            source: "VIRTUAL_ENV",
        };
    }
    let roots = [
        std::env::current_dir().ok(),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR"))),
    ];
    for root in roots.iter().flatten() {
        if let Some(path) = in_project_venvs(root) {
            return Located {
                path,
                source: "a project virtual environment",
            };
        }
    }
    let user = std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local"));
    if let Some(path) = user.as_deref().and_then(in_venv) {
        return Located {
            path,
            source: "the user's site-packages",
        };
    }
    Located {
        path: PathBuf::from(SYSTEM_NAME),
        source: "the system's library path",
    }
}

/// The newest `libonnxruntime.so*` of the `onnxruntime` package in the
/// `.venv*` folders directly under `root` (names in order).
fn in_project_venvs(root: &Path) -> Option<PathBuf> {
    named(root, ".venv").iter().find_map(|venv| in_venv(venv))
}

/// The newest `libonnxruntime.so*` under `prefix/lib/python3.*/site-packages/onnxruntime/capi`.
fn in_venv(prefix: &Path) -> Option<PathBuf> {
    named(&prefix.join("lib"), "python3")
        .iter()
        .rev()
        .find_map(|python| {
            let capi = python.join("site-packages/onnxruntime/capi");
            named(&capi, "libonnxruntime.so").pop()
        })
}

/// The entries of `dir` whose names start with `prefix`, in name order;
/// none when `dir` cannot be read.
fn named(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .map(|e| e.path())
        .collect();
    paths.sort();
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_path_wins_even_when_missing() {
        let given = Path::new("/nonexistent/libonnxruntime.so.1");
        assert_eq!(
            locate(Some(given)),
            Located {
                path: given.to_owned(),
                source: "given",
            }
        );
    }

    /// A wheel laid out as pip installs it, in a `.venv-x` folder: its
    /// newest versioned library is found; a folder without one is not.
    #[test]
    fn the_wheel_in_a_project_venv_is_found() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(in_project_venvs(root.path()), None);
        let capi = root
            .path()
            .join(".venv-x/lib/python3.12/site-packages/onnxruntime/capi");
        std::fs::create_dir_all(&capi).unwrap();
        assert_eq!(in_project_venvs(root.path()), None);
        for name in [
            "libonnxruntime.so.1.22.0",
            "libonnxruntime.so.1.23.2",
            "other.so",
        ] {
            std::fs::write(capi.join(name), b"").unwrap();
        }
        assert_eq!(
            in_project_venvs(root.path()),
            Some(capi.join("libonnxruntime.so.1.23.2"))
        );
    }
}

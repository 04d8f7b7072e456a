//! The TensorRT engine cache: which serialized engine may run a model on
//! this machine.
//!
//! A TensorRT engine is valid only for the ONNX file it was built from, the
//! TensorRT version that built it, the GPU's compute capability, the
//! precision and the input shape; loading any other one fails deep inside
//! TensorRT or, worse, runs. The engine file itself says none of this, so
//! each engine has a sidecar (`<engine>.json`) recording that [`EngineKey`]
//! and the engine's own sha256. [`EngineCache::resolve`] hands out an
//! engine only when its sidecar matches the key of the model and machine at
//! hand; otherwise it refuses and names every field that differs, unless
//! building on start is allowed, and then only before the lanes start
//! ([`EngineCache::seal`]): an engine build takes minutes and never runs on
//! the hot path.
//!
//! Pure Rust and file handling: it knows nothing of TensorRT (the builder
//! is a closure), so all of it is tested on machines without a GPU.

use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// The sidecar format this code writes and reads.
const SIDECAR_FORMAT: u32 = 1;

/// Numeric precision an engine was built for.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    Fp32,
    Fp16,
    Int8,
}

impl Precision {
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Fp16 => "fp16",
            Precision::Int8 => "int8",
        }
    }
}

/// Everything an engine's validity depends on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineKey {
    /// sha256 of the ONNX file, lowercase hex.
    pub onnx_sha256: String,
    /// The TensorRT version that built (or would load) it, e.g. `10.3.0`.
    pub tensorrt_version: String,
    /// The GPU's compute capability, e.g. `9.0`.
    pub compute_capability: String,
    pub precision: Precision,
    /// The input tensor's shape, e.g. `[1, 3, 416, 416]`.
    pub input_shape: Vec<usize>,
}

/// Where an engine is built or loaded: what the key needs of the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub tensorrt_version: String,
    pub compute_capability: String,
}

impl EngineKey {
    /// The key of `onnx` (hashed here) built for `target` at `precision`
    /// with input `input_shape`.
    pub fn for_model(
        onnx: &Path,
        input_shape: &[usize],
        target: &Target,
        precision: Precision,
    ) -> Result<Self, CacheError> {
        Ok(EngineKey {
            onnx_sha256: sha256_of(onnx)?,
            tensorrt_version: target.tensorrt_version.clone(),
            compute_capability: target.compute_capability.clone(),
            precision,
            input_shape: input_shape.to_vec(),
        })
    }

    /// A file name that tells engines apart at a glance, e.g.
    /// `nanodet-m-416.0123abcd.trt10.3.0.sm90.fp16.1x3x416x416.engine`.
    pub fn file_name(&self, model: &str) -> String {
        let shape: Vec<String> = self.input_shape.iter().map(usize::to_string).collect();
        format!(
            "{model}.{}.trt{}.sm{}.{}.{}.engine",
            &self.onnx_sha256[..self.onnx_sha256.len().min(8)],
            self.tensorrt_version,
            self.compute_capability.replace('.', ""),
            self.precision.as_str(),
            shape.join("x")
        )
    }

    /// Every field in which `found` differs from `self` (the expected key).
    pub fn mismatches(&self, found: &EngineKey) -> Vec<Mismatch> {
        let mut out = Vec::new();
        let mut check = |field: &'static str, expected: String, actual: String| {
            if expected != actual {
                out.push(Mismatch {
                    field,
                    expected,
                    found: actual,
                });
            }
        };
        check(
            "onnx_sha256",
            self.onnx_sha256.clone(),
            found.onnx_sha256.clone(),
        );
        check(
            "tensorrt_version",
            self.tensorrt_version.clone(),
            found.tensorrt_version.clone(),
        );
        check(
            "compute_capability",
            self.compute_capability.clone(),
            found.compute_capability.clone(),
        );
        check(
            "precision",
            self.precision.as_str().to_owned(),
            found.precision.as_str().to_owned(),
        );
        check(
            "input_shape",
            format!("{:?}", self.input_shape),
            format!("{:?}", found.input_shape),
        );
        out
    }
}

/// One field in which an engine differs from what the model and machine
/// need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub field: &'static str,
    pub expected: String,
    pub found: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} is {} but this model and GPU need {}",
            self.field, self.found, self.expected
        )
    }
}

/// What is recorded beside an engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sidecar {
    pub format: u32,
    pub key: EngineKey,
    /// sha256 of the engine file: a replaced or damaged engine is caught.
    pub engine_sha256: String,
    pub engine_bytes: u64,
    /// What built it, e.g. `lookout 0.1.0 via trtexec --fp16`.
    pub built_by: String,
}

impl Sidecar {
    /// `model.engine` → `model.engine.json`.
    pub fn path_for(engine: &Path) -> PathBuf {
        let mut name = engine.as_os_str().to_owned();
        name.push(".json");
        PathBuf::from(name)
    }

    /// Records `engine` (which must exist) as built for `key`. Written to a
    /// temporary file and renamed, so a reader never sees half a sidecar.
    pub fn write(engine: &Path, key: &EngineKey, built_by: &str) -> Result<Sidecar, CacheError> {
        let sidecar = Sidecar {
            format: SIDECAR_FORMAT,
            key: key.clone(),
            engine_sha256: sha256_of(engine)?,
            engine_bytes: std::fs::metadata(engine).map_err(|e| io(engine, e))?.len(),
            built_by: built_by.to_owned(),
        };
        let path = Sidecar::path_for(engine);
        let text = serde_json::to_string_pretty(&sidecar)
            .expect("a sidecar has only strings, integers and lists: it serializes");
        let partial = path.with_extension("json.partial");
        std::fs::write(&partial, text + "\n").map_err(|e| io(&partial, e))?;
        std::fs::rename(&partial, &path).map_err(|e| io(&path, e))?;
        Ok(sidecar)
    }

    /// The sidecar of `engine`.
    pub fn read(engine: &Path) -> Result<Sidecar, CacheError> {
        let path = Sidecar::path_for(engine);
        let text = std::fs::read_to_string(&path).map_err(|e| CacheError::Sidecar {
            path: path.clone(),
            detail: e.to_string(),
        })?;
        let sidecar: Sidecar = serde_json::from_str(&text).map_err(|e| CacheError::Sidecar {
            path: path.clone(),
            detail: e.to_string(),
        })?;
        if sidecar.format != SIDECAR_FORMAT {
            return Err(CacheError::Sidecar {
                path,
                detail: format!(
                    "format {} (this build reads {SIDECAR_FORMAT})",
                    sidecar.format
                ),
            });
        }
        Ok(sidecar)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error(
        "no TensorRT engine at {path}: build it with `lookout engine build --model {model}`, \
         or set build_engine_on_start: true"
    )]
    Missing { path: PathBuf, model: String },
    #[error("engine sidecar {path}: {detail}")]
    Sidecar { path: PathBuf, detail: String },
    #[error(
        "TensorRT engine {path} was built for something else: {}; rebuild it with \
         `lookout engine build`, or set build_engine_on_start: true",
        list(.mismatches)
    )]
    Mismatch {
        path: PathBuf,
        mismatches: Vec<Mismatch>,
    },
    #[error(
        "TensorRT engine {path} changed since its sidecar was written \
         (sha256 {found}, the sidecar says {expected}): rebuild it"
    )]
    Modified {
        path: PathBuf,
        expected: String,
        found: String,
    },
    #[error(
        "refusing to build TensorRT engine {path} after the lanes started: engines are \
         built before start (lookout engine build, or build_engine_on_start), never on the \
         hot path"
    )]
    BuildOnHotPath { path: PathBuf },
    #[error("building TensorRT engine {path} failed: {detail}")]
    Build { path: PathBuf, detail: String },
    #[error("{path}: {detail}")]
    Io { path: PathBuf, detail: String },
}

fn list(mismatches: &[Mismatch]) -> String {
    let items: Vec<String> = mismatches.iter().map(Mismatch::to_string).collect();
    items.join("; ")
}

fn io(path: &Path, e: std::io::Error) -> CacheError {
    CacheError::Io {
        path: path.to_path_buf(),
        detail: e.to_string(),
    }
}

/// sha256 of a file, lowercase hex, read in blocks.
pub fn sha256_of(path: &Path) -> Result<String, CacheError> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|e| io(path, e))?;
    let mut hasher = sha2::Sha256::new();
    let mut block = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut block).map_err(|e| io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&block[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// How a missing or mismatched engine is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnMismatch {
    /// Refuse, naming what differs (the default: a vehicle never builds
    /// unattended).
    Refuse,
    /// Build one, at start only.
    BuildOnStart,
}

/// Engines of one directory, and whether building is still allowed.
#[derive(Debug)]
pub struct EngineCache {
    dir: PathBuf,
    on_mismatch: OnMismatch,
    /// Set once the lanes run: no build after that.
    sealed: AtomicBool,
}

impl EngineCache {
    pub fn new(dir: impl Into<PathBuf>, on_mismatch: OnMismatch) -> Self {
        EngineCache {
            dir: dir.into(),
            on_mismatch,
            sealed: AtomicBool::new(false),
        }
    }

    /// Where the engine of `model` for `key` lives in this cache.
    pub fn engine_path(&self, model: &str, key: &EngineKey) -> PathBuf {
        self.dir.join(key.file_name(model))
    }

    /// The lanes are starting: from now on a needed build is refused.
    pub fn seal(&self) {
        self.sealed.store(true, Ordering::Release);
    }

    /// `engine` if its sidecar records `key` and the engine is unchanged.
    pub fn check(engine: &Path, model: &str, key: &EngineKey) -> Result<(), CacheError> {
        if !engine.exists() {
            return Err(CacheError::Missing {
                path: engine.to_path_buf(),
                model: model.to_owned(),
            });
        }
        let sidecar = Sidecar::read(engine)?;
        let mismatches = key.mismatches(&sidecar.key);
        if !mismatches.is_empty() {
            return Err(CacheError::Mismatch {
                path: engine.to_path_buf(),
                mismatches,
            });
        }
        let found = sha256_of(engine)?;
        if found != sidecar.engine_sha256 {
            return Err(CacheError::Modified {
                path: engine.to_path_buf(),
                expected: sidecar.engine_sha256,
                found,
            });
        }
        Ok(())
    }

    /// The engine to load for `model` and `key`: `engine` when given (a
    /// configured path), else this cache's file for the key. A missing or
    /// mismatched engine is an error unless building on start is allowed
    /// and the cache is not sealed; then `build(path)` writes it and the
    /// sidecar is recorded. A damaged sidecar or a modified engine is
    /// never rebuilt over: someone should look at it.
    pub fn resolve(
        &self,
        model: &str,
        key: &EngineKey,
        engine: Option<&Path>,
        build: impl FnOnce(&Path) -> Result<String, String>,
    ) -> Result<PathBuf, CacheError> {
        let path = engine
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.engine_path(model, key));
        match Self::check(&path, model, key) {
            Ok(()) => Ok(path),
            Err(e @ (CacheError::Missing { .. } | CacheError::Mismatch { .. })) => {
                if self.on_mismatch == OnMismatch::Refuse {
                    return Err(e);
                }
                if self.sealed.load(Ordering::Acquire) {
                    return Err(CacheError::BuildOnHotPath { path });
                }
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
                }
                let built_by = build(&path).map_err(|detail| CacheError::Build {
                    path: path.clone(),
                    detail,
                })?;
                Sidecar::write(&path, key, &built_by)?;
                Ok(path)
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            tensorrt_version: "10.3.0".into(),
            compute_capability: "9.0".into(),
        }
    }

    /// A model file and its key, in a fresh directory.
    fn model(dir: &Path) -> (PathBuf, EngineKey) {
        let onnx = dir.join("model.onnx");
        std::fs::write(&onnx, b"not really onnx, but bytes to hash").unwrap();
        let key =
            EngineKey::for_model(&onnx, &[1, 3, 416, 416], &target(), Precision::Fp16).unwrap();
        (onnx, key)
    }

    fn write_engine(path: &Path, bytes: &[u8]) -> Result<String, String> {
        std::fs::write(path, bytes).map_err(|e| e.to_string())?;
        Ok("test builder".into())
    }

    #[test]
    fn the_key_hashes_the_model_and_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let (_, key) = model(dir.path());
        // sha256("not really onnx, but bytes to hash")
        assert_eq!(key.onnx_sha256.len(), 64);
        assert!(key.onnx_sha256.chars().all(|c| c.is_ascii_hexdigit()));
        let name = key.file_name("nanodet");
        assert_eq!(
            name,
            format!(
                "nanodet.{}.trt10.3.0.sm90.fp16.1x3x416x416.engine",
                &key.onnx_sha256[..8]
            )
        );
        let other = EngineKey {
            precision: Precision::Int8,
            ..key.clone()
        };
        assert_ne!(other.file_name("nanodet"), name);
        assert!(key.mismatches(&key).is_empty());
    }

    #[test]
    fn the_key_changes_with_one_byte_of_the_model() {
        let dir = tempfile::tempdir().unwrap();
        let (onnx, key) = model(dir.path());
        std::fs::write(&onnx, b"not really onnx, but bytes to hasH").unwrap();
        let changed =
            EngineKey::for_model(&onnx, &[1, 3, 416, 416], &target(), Precision::Fp16).unwrap();
        assert_ne!(changed.onnx_sha256, key.onnx_sha256);
        let m = key.mismatches(&changed);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].field, "onnx_sha256");
    }

    #[test]
    fn sidecars_round_trip_and_reject_other_formats() {
        let dir = tempfile::tempdir().unwrap();
        let (_, key) = model(dir.path());
        let engine = dir.path().join("m.engine");
        std::fs::write(&engine, b"engine bytes").unwrap();
        let written = Sidecar::write(&engine, &key, "lookout test").unwrap();
        assert_eq!(Sidecar::path_for(&engine), dir.path().join("m.engine.json"));
        assert_eq!(Sidecar::read(&engine).unwrap(), written);
        assert_eq!(written.engine_bytes, 12);
        assert!(!dir.path().join("m.engine.json.partial").exists());

        let path = Sidecar::path_for(&engine);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("\"format\": 1", "\"format\": 7")).unwrap();
        let e = Sidecar::read(&engine).unwrap_err().to_string();
        assert!(e.contains("format 7 (this build reads 1)"), "{e}");
        std::fs::write(&path, "{ not json").unwrap();
        assert!(matches!(
            Sidecar::read(&engine),
            Err(CacheError::Sidecar { .. })
        ));
    }

    #[test]
    fn a_matching_engine_is_used_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let (_, key) = model(dir.path());
        let cache = EngineCache::new(dir.path().join("engines"), OnMismatch::Refuse);
        let path = cache.engine_path("m", &key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"engine").unwrap();
        Sidecar::write(&path, &key, "test").unwrap();
        cache.seal();
        let resolved = cache
            .resolve("m", &key, None, |_| panic!("must not build"))
            .unwrap();
        assert_eq!(resolved, path);
    }

    #[test]
    fn a_mismatch_is_refused_naming_every_field_that_differs() {
        let dir = tempfile::tempdir().unwrap();
        let (_, key) = model(dir.path());
        let engine = dir.path().join("old.engine");
        std::fs::write(&engine, b"engine").unwrap();
        let old = EngineKey {
            tensorrt_version: "10.0.1".into(),
            compute_capability: "8.6".into(),
            ..key.clone()
        };
        Sidecar::write(&engine, &old, "test").unwrap();
        let cache = EngineCache::new(dir.path(), OnMismatch::Refuse);
        let e = cache
            .resolve("m", &key, Some(&engine), |_| panic!("must not build"))
            .unwrap_err();
        let CacheError::Mismatch { mismatches, .. } = &e else {
            panic!("{e}");
        };
        let fields: Vec<&str> = mismatches.iter().map(|m| m.field).collect();
        assert_eq!(fields, ["tensorrt_version", "compute_capability"]);
        let text = e.to_string();
        assert!(
            text.contains("tensorrt_version is 10.0.1 but this model and GPU need 10.3.0")
                && text.contains("compute_capability is 8.6 but this model and GPU need 9.0")
                && text.contains("lookout engine build"),
            "{text}"
        );
    }

    #[test]
    fn a_missing_engine_is_refused_with_the_command_that_builds_it() {
        let dir = tempfile::tempdir().unwrap();
        let (_, key) = model(dir.path());
        let cache = EngineCache::new(dir.path(), OnMismatch::Refuse);
        let e = cache
            .resolve("nanodet-m-416", &key, None, |_| panic!("must not build"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("lookout engine build --model nanodet-m-416"),
            "{e}"
        );
    }

    #[test]
    fn building_on_start_writes_engine_and_sidecar_then_reuses_them() {
        let dir = tempfile::tempdir().unwrap();
        let (_, key) = model(dir.path());
        let cache = EngineCache::new(dir.path().join("cache"), OnMismatch::BuildOnStart);
        let path = cache
            .resolve("m", &key, None, |p| write_engine(p, b"fresh engine"))
            .unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"fresh engine");
        let sidecar = Sidecar::read(&path).unwrap();
        assert_eq!(sidecar.key, key);
        assert_eq!(sidecar.built_by, "test builder");
        // Second start: found, not rebuilt.
        let again = cache
            .resolve("m", &key, None, |_| panic!("must not rebuild"))
            .unwrap();
        assert_eq!(again, path);
    }

    #[test]
    fn no_build_once_the_lanes_run() {
        let dir = tempfile::tempdir().unwrap();
        let (_, key) = model(dir.path());
        let cache = EngineCache::new(dir.path(), OnMismatch::BuildOnStart);
        cache.seal();
        let e = cache
            .resolve("m", &key, None, |_| {
                panic!("must not build on the hot path")
            })
            .unwrap_err();
        assert!(matches!(e, CacheError::BuildOnHotPath { .. }), "{e}");
        assert!(e.to_string().contains("never on the hot path"), "{e}");
    }

    #[test]
    fn a_modified_engine_is_refused_and_not_built_over() {
        let dir = tempfile::tempdir().unwrap();
        let (_, key) = model(dir.path());
        let cache = EngineCache::new(dir.path(), OnMismatch::BuildOnStart);
        let path = cache
            .resolve("m", &key, None, |p| write_engine(p, b"engine"))
            .unwrap();
        std::fs::write(&path, b"engine, then damaged").unwrap();
        let e = cache
            .resolve("m", &key, None, |_| panic!("must not build over it"))
            .unwrap_err();
        assert!(matches!(e, CacheError::Modified { .. }), "{e}");
    }

    #[test]
    fn a_failed_build_says_why_and_leaves_no_sidecar() {
        let dir = tempfile::tempdir().unwrap();
        let (_, key) = model(dir.path());
        let cache = EngineCache::new(dir.path(), OnMismatch::BuildOnStart);
        let e = cache
            .resolve("m", &key, None, |_| Err("trtexec: exit status 1".into()))
            .unwrap_err();
        assert!(e.to_string().contains("trtexec: exit status 1"), "{e}");
        assert!(!Sidecar::path_for(&cache.engine_path("m", &key)).exists());
    }
}

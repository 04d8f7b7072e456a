//! Build script: only the `tensorrt` feature needs it. It finds the
//! TensorRT 10 headers and libraries and compiles our C++ shim
//! (`src/camera/engine/tensorrt/shim.cpp`) with `cc`; without TensorRT it
//! stops the build at once with one message saying where it looked.
//!
//! `LOOKOUT_TENSORRT_CHECK_ONLY=1` skips the shim (for `cargo check` and
//! clippy of the Rust side on machines without TensorRT: nothing links).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_TENSORRT").is_some() {
        tensorrt::build();
    }
}

#[cfg(feature = "tensorrt")]
mod tensorrt {
    use std::path::{Path, PathBuf};

    const SHIM: &str = "src/camera/engine/tensorrt/shim.cpp";

    pub fn build() {
        println!("cargo:rerun-if-env-changed=TENSORRT_ROOT");
        println!("cargo:rerun-if-env-changed=CUDA_HOME");
        println!("cargo:rerun-if-env-changed=LOOKOUT_TENSORRT_CHECK_ONLY");
        println!("cargo:rerun-if-changed={SHIM}");
        if std::env::var_os("LOOKOUT_TENSORRT_CHECK_ONLY").is_some() {
            println!(
                "cargo:warning=LOOKOUT_TENSORRT_CHECK_ONLY: the TensorRT shim is not built; \
                 this build checks the Rust side and cannot link"
            );
            return;
        }
        let searched = include_candidates();
        let Some(include) = searched.iter().find(|d| d.join("NvInfer.h").is_file()) else {
            let list: Vec<String> = searched.iter().map(|d| d.display().to_string()).collect();
            fail(&format!(
                "the `tensorrt` feature needs the TensorRT 10 headers (NvInfer.h), and none \
                 were found.\nLooked in: {}.\nSet TENSORRT_ROOT to the TensorRT install \
                 (with include/ and lib/), or build without `--features tensorrt` \
                 (the tract and onnxruntime engines need no TensorRT).",
                list.join(", ")
            ));
        };
        if let Some(version) = header_version(include).filter(|v| v.0 < 10) {
            fail(&format!(
                "the `tensorrt` feature needs TensorRT 10 or newer; {} is {}.{}.{} \
                 (enqueueV3 and named tensors came with 10.0). Set TENSORRT_ROOT to a TensorRT \
                 10 install.",
                include.join("NvInferVersion.h").display(),
                version.0,
                version.1,
                version.2
            ));
        }
        let cuda_include = cuda_include();
        let mut build = cc::Build::new();
        build
            .cpp(true)
            .std("c++17")
            .file(SHIM)
            .include(include)
            .warnings(true);
        if let Some(cuda) = &cuda_include {
            build.include(cuda);
        }
        build.compile("lookout_tensorrt_shim");
        for dir in lib_candidates(include) {
            if dir.is_dir() {
                println!("cargo:rustc-link-search=native={}", dir.display());
            }
        }
        println!("cargo:rustc-link-lib=dylib=nvinfer");
        println!("cargo:rustc-link-lib=dylib=cudart");
    }

    /// Stops the build with one message (no panic backtrace).
    fn fail(message: &str) -> ! {
        eprintln!("\nerror: {message}\n");
        std::process::exit(1);
    }

    fn include_candidates() -> Vec<PathBuf> {
        let mut dirs = Vec::new();
        if let Some(root) = std::env::var_os("TENSORRT_ROOT") {
            dirs.push(Path::new(&root).join("include"));
        }
        for d in [
            "/usr/include/x86_64-linux-gnu",
            "/usr/include/aarch64-linux-gnu",
            "/usr/include",
            "/usr/local/TensorRT/include",
            "/opt/tensorrt/include",
            "/usr/local/cuda/include",
        ] {
            dirs.push(PathBuf::from(d));
        }
        dirs
    }

    fn lib_candidates(include: &Path) -> Vec<PathBuf> {
        let mut dirs = Vec::new();
        if let Some(root) = include.parent() {
            dirs.push(root.join("lib"));
            dirs.push(root.join("lib64"));
        }
        let cuda = std::env::var_os("CUDA_HOME")
            .map_or_else(|| PathBuf::from("/usr/local/cuda"), PathBuf::from);
        dirs.push(cuda.join("lib64"));
        dirs.push(PathBuf::from("/usr/lib/x86_64-linux-gnu"));
        dirs.push(PathBuf::from("/usr/lib/aarch64-linux-gnu"));
        dirs
    }

    fn cuda_include() -> Option<PathBuf> {
        let cuda = std::env::var_os("CUDA_HOME")
            .map_or_else(|| PathBuf::from("/usr/local/cuda"), PathBuf::from);
        let include = cuda.join("include");
        include
            .join("cuda_runtime_api.h")
            .is_file()
            .then_some(include)
    }

    /// `NV_TENSORRT_MAJOR/MINOR/PATCH` from NvInferVersion.h, following one
    /// level of `#define A B` (10.8+ defines them through `TRT_*_ENTERPRISE`).
    /// `None` when unreadable: then the compile itself says what is wrong.
    fn header_version(include: &Path) -> Option<(u32, u32, u32)> {
        let text = std::fs::read_to_string(include.join("NvInferVersion.h")).ok()?;
        let define = |name: &str| -> Option<String> {
            text.lines()
                .filter_map(|l| l.trim().strip_prefix("#define "))
                .find_map(|l| {
                    let mut words = l.split_whitespace();
                    (words.next()? == name).then(|| words.next().map(str::to_owned))?
                })
        };
        let number = |name: &str| -> Option<u32> {
            let value = define(name)?;
            value.parse().ok().or_else(|| define(&value)?.parse().ok())
        };
        Some((
            number("NV_TENSORRT_MAJOR")?,
            number("NV_TENSORRT_MINOR")?,
            number("NV_TENSORRT_PATCH")?,
        ))
    }
}

#[cfg(not(feature = "tensorrt"))]
mod tensorrt {
    pub fn build() {}
}

//! Fixtures shared by the integration tests: small synthetic scenes.
#![allow(dead_code)]

use lookout::synth::{CameraSpec, LidarSpec, SynthOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A short, reduced-size scene that synthesizes in well under a second.
pub fn small_scene_options(seconds: f64, seed: u64) -> SynthOptions {
    SynthOptions {
        seconds,
        seed,
        camera: CameraSpec {
            width: 320,
            height: 180,
            fx: 250.0,
            fy: 250.0,
            cx: 160.0,
            cy: 90.0,
            ..CameraSpec::default()
        },
        lidar: LidarSpec {
            azimuth_steps: 512,
            ..LidarSpec::default()
        },
        ..SynthOptions::default()
    }
}

/// A 32x18 camera at 1 Hz: next to nothing to render, for tests that score
/// only the lidar.
pub fn tiny_camera() -> CameraSpec {
    CameraSpec {
        width: 32,
        height: 18,
        fx: 25.0,
        fy: 25.0,
        cx: 16.0,
        cy: 9.0,
        rate_hz: 1.0,
        ..CameraSpec::default()
    }
}

pub fn write_small_scene(path: &Path, seconds: f64, seed: u64) {
    lookout::synth::synthesize(path, &small_scene_options(seconds, seed)).expect("synthesize");
}

pub fn sha256_file(path: &Path) -> String {
    use sha2::Digest;
    let bytes = std::fs::read(path).expect("read file");
    hex::encode(sha2::Sha256::digest(&bytes))
}

/// The test Python interpreter (`LOOKOUT_PYTHON`, else `.venv-test`) when it
/// can `import {imports}`; otherwise `None` after a loud SKIPPED line, or a
/// panic when `LOOKOUT_REQUIRE_PYTHON=1` (as scripts/test.sh and CI set it).
pub fn python(test: &str, imports: &str) -> Option<PathBuf> {
    let interpreter = match std::env::var_os("LOOKOUT_PYTHON") {
        Some(path) => PathBuf::from(path),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-test/bin/python"),
    };
    let problem = match Command::new(&interpreter)
        .args(["-c", &format!("import {imports}")])
        .output()
    {
        Err(e) => format!("cannot run {}: {e}", interpreter.display()),
        Ok(out) if !out.status.success() => format!(
            "{} cannot import {imports}: {}",
            interpreter.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Ok(_) => return Some(interpreter),
    };
    if std::env::var("LOOKOUT_REQUIRE_PYTHON").as_deref() == Ok("1") {
        panic!(
            "LOOKOUT_REQUIRE_PYTHON=1 but {problem}\n\
             Set up the interpreter with scripts/test.sh (or `pip install -r \
             tests/interop/requirements.txt` into $LOOKOUT_PYTHON's environment)."
        );
    }
    // Straight to the process's stderr: the test harness captures
    // `eprintln!` of passing tests, and a skip must not go unnoticed.
    let _ = writeln!(
        std::io::stderr(),
        "\n**********************************************************************\n\
         SKIPPED: {test}: {problem}\n\
         Tests that need Python did not run: run scripts/test.sh\n\
         (or set LOOKOUT_PYTHON to a Python with tests/interop/requirements.txt).\n\
         **********************************************************************\n"
    );
    None
}

/// Runs `command` (a reference tool, e.g. the test Python) to completion
/// and returns its stdout; a failure fails the test with its stderr.
pub fn stdout_of(command: &mut Command) -> Vec<u8> {
    let out = command.output().expect("running the reference tool");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The scene's camera and lidar, a front lidar, and a second camera
/// looking backwards (`camera_rear`, on its own topics): a rig of two
/// cameras and two lidars.
pub fn two_camera_rig(options: &SynthOptions) -> lookout::rig::Rig {
    use lookout::rig::{Pose, Topics};
    let mut rig = lookout::synth::lidars_rig(options, &[lookout::synth::ExtraLidar::front()]);
    let mut rear = rig.sensors[0].clone();
    rear.name = "camera_rear".into();
    rear.frame_id = "camera_rear".into();
    rear.topics = Topics {
        image: Some("/camera_rear/image_raw".into()),
        camera_info: Some("/camera_rear/camera_info".into()),
        points: None,
    };
    // The front camera's optical axes turned half a turn about the vertical.
    rear.extrinsics = Some(Pose {
        translation: [-1.0, 0.0, -0.4],
        rotation_xyzw: [-0.5, -0.5, 0.5, 0.5],
    });
    if let Some(intrinsics) = rear.intrinsics.as_mut() {
        intrinsics.frame_id = "camera_rear".into();
    }
    rig.sensors.push(rear);
    rig.validate().expect("a valid rig");
    rig
}

/// Lockstep replay with every setting at its default, no camera, no output
/// bag and nothing observed: tests override the fields they are about.
pub fn lockstep_options() -> lookout::replay::ScheduledReplayOptions {
    lookout::replay::ScheduledReplayOptions {
        mode: lookout::replay::Mode::Lockstep,
        scheduler: Default::default(),
        lidar: Default::default(),
        camera: None,
        ladder: Default::default(),
        fusion: None,
        rig: None,
        faults: Default::default(),
        tracking: Default::default(),
        output: Default::default(),
        out: None,
        writer: Default::default(),
        loops: 1,
        observe: Default::default(),
    }
}

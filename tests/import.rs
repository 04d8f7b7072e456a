//! `lookout import`: KITTI (object layout and raw drive) and nuScenes (table
//! layout) into bags with truth, read back with the bag reader; and every
//! kind of bad input refused with a message naming the file.

use lookout::bag::Bag;
use lookout::calibration::Calibration;
use lookout::frames::LidarScan;
use lookout::import::{ImportError, kitti, nuscenes};
use lookout::msg::{
    CameraInfo, CompressedImage, Detection2DArray, ObstacleArray, ObstacleSource, PointCloud2,
};
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::Command;

fn real(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/real")
        .join(name)
}

/// Every message of a bag: (topic, type, log time, CDR), in log-time order.
fn messages(path: &Path) -> Vec<(String, String, u64, Vec<u8>)> {
    let mut all = Vec::new();
    Bag::open(path)
        .unwrap()
        .read_messages(None, |m| {
            all.push((
                m.topic.to_owned(),
                m.type_name.to_owned(),
                m.log_time,
                m.data.to_vec(),
            ));
            ControlFlow::Continue(())
        })
        .unwrap();
    all
}

fn on<'a>(all: &'a [(String, String, u64, Vec<u8>)], topic: &str) -> Vec<&'a [u8]> {
    all.iter()
        .filter(|m| m.0 == topic)
        .map(|m| m.3.as_slice())
        .collect()
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_tree(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

fn close(a: [f64; 3], b: [f64; 3], tolerance: f64) -> bool {
    a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tolerance)
}

// ----------------------------------------------------------------- KITTI ---

#[test]
fn kitti_object_frame_becomes_a_bag_with_truth() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("kitti.mcap");
    let summary = kitti::import(&real("kitti"), None, &out).unwrap();
    let bin_len = std::fs::metadata(real("kitti/velodyne/000134.bin"))
        .unwrap()
        .len();
    assert_eq!(
        (summary.scans, summary.points, summary.images),
        (1, bin_len / 16, 1)
    );
    assert_eq!(summary.truth_obstacles, 15); // 17 lines, 2 DontCare
    let all = messages(&out);

    let clouds = on(&all, "/lidar/points");
    assert_eq!(clouds.len(), 1);
    let cloud = PointCloud2::decode(clouds[0]).unwrap();
    assert_eq!((cloud.header.frame_id, cloud.len()), ("velodyne", 19097));
    let mut scan = LidarScan::new();
    scan.fill_from(&cloud).unwrap();
    assert_eq!(scan.len(), 19097);

    let truth = ObstacleArray::decode(on(&all, "/ground_truth/obstacles")[0]).unwrap();
    assert_eq!(truth.header.stamp, cloud.header.stamp);
    assert_eq!(truth.header.frame_id, "velodyne");
    let mut classes = BTreeMap::new();
    for o in &truth.obstacles {
        *classes.entry(o.label.as_str()).or_insert(0) += 1;
        assert_eq!(o.source, ObstacleSource::GroundTruth);
        eprintln!(
            "kitti truth {:2} {:10} centre ({:7.3}, {:7.3}, {:6.3}) yaw {:6.3} points {:4} nearest {:6.2}",
            o.id,
            o.label,
            o.center[0],
            o.center[1],
            o.center[2],
            o.yaw,
            o.point_count,
            o.nearest_distance
        );
        let range = o.center[0].hypot(o.center[1]);
        if range < 25.0 {
            assert!(o.point_count > 0, "{o:?}");
            assert!(o.nearest_distance > 0.0 && (o.nearest_distance as f64) < range + 3.0);
        }
    }
    assert_eq!(
        classes,
        BTreeMap::from([("car", 3), ("cyclist", 5), ("pedestrian", 7)])
    );
    // Label 1: `Car ... 1.50 1.78 3.69 -3.29 1.46 12.65 -1.57`. Its centre
    // (-3.29, 1.46 - 0.75, 12.65) in the rectified camera frame, through
    // inverse(R0_rect · Tr_velo_to_cam) of calib/000134.txt, is
    // (12.9835, 3.2574, -0.7963) in the lidar frame; yaw 1.57 - pi/2.
    let car = &truth.obstacles[0];
    assert_eq!((car.id, car.label.as_str()), (1, "car"));
    assert!(
        close(car.center, [12.9835, 3.2574, -0.7963], 0.02),
        "{car:?}"
    );
    assert_eq!(car.size, [3.69, 1.78, 1.50]);
    assert!((car.yaw - (1.57 - std::f64::consts::FRAC_PI_2)).abs() < 1e-9);

    let image = CompressedImage::decode(on(&all, "/camera/image_raw/compressed")[0]).unwrap();
    assert_eq!((image.format, image.header.frame_id), ("png", "camera_2"));
    assert_eq!(image.header.stamp, cloud.header.stamp);
    let info = CameraInfo::decode(on(&all, "/camera/camera_info")[0]).unwrap();
    assert_eq!((info.width, info.height), (1224, 370)); // the PNG header
    assert_eq!(
        (info.k[0], info.k[2], info.p[3]),
        (707.0493, 604.0814, 45.75831)
    );
    let boxes = Detection2DArray::decode(on(&all, "/ground_truth/detections")[0]).unwrap();
    assert_eq!(boxes.header.stamp, cloud.header.stamp);
    assert_eq!(boxes.detections.len(), 15);
    let first = &boxes.detections[0];
    assert_eq!((first.id, first.label.as_str()), (1, "car"));
    assert_eq!(first.bbox, [333.28, 177.65, 489.60, 277.55]);
    assert_eq!(first.visible, 1.0);

    let calibration = Calibration::load(summary.calibration_path.as_ref().unwrap()).unwrap();
    assert_eq!(calibration.lidar_to_camera.parent_frame, "velodyne");
    assert_eq!(calibration.camera.frame_id, "camera_2");
    // The car's centre projects into its 2D box.
    let c = calibration.lidar_to_camera.apply(car.center);
    let k = calibration.camera.k();
    let (u, v) = (k[0] * c[0] / c[2] + k[2], k[4] * c[1] / c[2] + k[5]);
    assert!(
        u > 333.28 && u < 489.60 && v > 177.65 && v < 277.55,
        "{u} {v}"
    );
}

#[test]
fn kitti_cli_imports_chosen_frames() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sub/kitti.mcap");
    let output = Command::new(env!("CARGO_BIN_EXE_lookout"))
        .args(["import", "kitti"])
        .arg(real("kitti"))
        .arg("--out")
        .arg(&out)
        .args(["--frames", "000134"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("1 lidar scans (19097 points)")
            && stdout.contains("15 ground-truth obstacles")
            && stdout.contains("kitti.calibration.yaml"),
        "{stdout}"
    );
    let output = Command::new(env!("CARGO_BIN_EXE_lookout"))
        .args(["import", "kitti"])
        .arg(real("kitti"))
        .arg("--out")
        .arg(&out)
        .args(["--frames", "000135"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("calib/000135.txt: not found"), "{stderr}");
}

/// A raw-drive folder built from the object frame: two scans, one image,
/// the calibration files in the date folder above the drive.
fn raw_drive(root: &Path) -> PathBuf {
    let drive = root.join("2011_09_26/2011_09_26_drive_0001_sync");
    let velo = drive.join("velodyne_points/data");
    let cam = drive.join("image_02/data");
    std::fs::create_dir_all(&velo).unwrap();
    std::fs::create_dir_all(&cam).unwrap();
    for name in ["0000000000.bin", "0000000001.bin"] {
        std::fs::copy(real("kitti/velodyne/000134.bin"), velo.join(name)).unwrap();
    }
    std::fs::write(
        drive.join("velodyne_points/timestamps.txt"),
        "2011-09-26 13:02:25.964389445\n2011-09-26 13:02:26.067700000\n",
    )
    .unwrap();
    std::fs::copy(real("kitti/image_2/000134.png"), cam.join("0000000000.png")).unwrap();
    std::fs::write(
        drive.join("image_02/timestamps.txt"),
        "2011-09-26 13:02:25.951199337\n",
    )
    .unwrap();
    let calib = std::fs::read_to_string(real("kitti/calib/000134.txt")).unwrap();
    let value = |key: &str| {
        calib
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}: ")))
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    let tr = value("Tr_velo_to_cam");
    let (r, t): (Vec<&str>, Vec<&str>) = (
        [0, 1, 2, 4, 5, 6, 8, 9, 10].map(|i| tr[i]).to_vec(),
        [3, 7, 11].map(|i| tr[i]).to_vec(),
    );
    let date = drive.parent().unwrap();
    std::fs::write(
        date.join("calib_velo_to_cam.txt"),
        format!(
            "calib_time: 15-Mar-2012 11:37:16\nR: {}\nT: {}\ndelta_f: 0 0\ndelta_c: 0 0\n",
            r.join(" "),
            t.join(" ")
        ),
    )
    .unwrap();
    std::fs::write(
        date.join("calib_cam_to_cam.txt"),
        format!(
            "calib_time: 09-Jan-2012 13:57:47\ncorner_dist: 9.950000e-02\nR_rect_00: {}\nP_rect_02: {}\nS_rect_02: 1.242000e+03 3.750000e+02\n",
            value("R0_rect").join(" "),
            value("P2").join(" ")
        ),
    )
    .unwrap();
    drive
}

#[test]
fn kitti_raw_drive_keeps_its_stamps() {
    let dir = tempfile::tempdir().unwrap();
    let drive = raw_drive(dir.path());
    let out = dir.path().join("raw.mcap");
    let summary = kitti::import(&drive, None, &out).unwrap();
    assert_eq!(
        (summary.scans, summary.images, summary.truth_obstacles),
        (2, 1, 0)
    );
    let all = messages(&out);
    // 2011-09-26 is day 15243 after 1970-01-01.
    let day = 15243 * 86_400 + 13 * 3600 + 2 * 60;
    let expected = [
        (day + 25) * 1_000_000_000 + 964_389_445,
        (day + 26) * 1_000_000_000 + 67_700_000,
    ];
    let stamps: Vec<i64> = on(&all, "/lidar/points")
        .iter()
        .map(|m| PointCloud2::decode(m).unwrap().header.stamp.as_nanos())
        .collect();
    assert_eq!(stamps, expected);
    let image = CompressedImage::decode(on(&all, "/camera/image_raw/compressed")[0]).unwrap();
    assert_eq!(
        image.header.stamp.as_nanos(),
        (day + 25) * 1_000_000_000 + 951_199_337
    );
    // Logged on arrival, in order: the image 10 ms after its stamp, a scan
    // one sweep (100 ms) after its start.
    let logs: Vec<u64> = all.iter().map(|m| m.2).collect();
    assert_eq!(logs[0] as i64, image.header.stamp.as_nanos() + 10_000_000);
    let scan_log = all.iter().find(|m| m.0 == "/lidar/points").unwrap().2;
    assert_eq!(scan_log as i64, expected[0] + 100_000_000);
    assert!(logs.windows(2).all(|w| w[0] <= w[1]));
    assert!(all.iter().all(|m| !m.0.starts_with("/ground_truth")));
    // Same calibration as the object frame's.
    let raw = Calibration::load(summary.calibration_path.as_ref().unwrap()).unwrap();
    let object_out = dir.path().join("object.mcap");
    let object = kitti::import(&real("kitti"), None, &object_out).unwrap();
    let object = Calibration::load(object.calibration_path.as_ref().unwrap()).unwrap();
    assert_eq!(raw, object);
}

// -------------------------------------------------------------- nuScenes ---

#[test]
fn nuscenes_keyframe_round_trips_through_the_tables() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("nuscenes.mcap");
    let root = real("nuscenes");
    let summary = nuscenes::import(&root, "v1.0-mini", Some("scene-0061"), &out).unwrap();
    let pcd_len = std::fs::metadata(root.join(
        "samples/LIDAR_TOP/n015-2018-07-24-11-22-45+0800__LIDAR_TOP__1532402927647951.pcd.bin",
    ))
    .unwrap()
    .len();
    assert_eq!(
        (summary.scans, summary.points, summary.images),
        (1, pcd_len / 20, 6)
    );
    assert_eq!(summary.truth_obstacles, 68); // 69 boxes, one 'ignore'
    let all = messages(&out);
    let topics: std::collections::BTreeSet<&str> = all.iter().map(|m| m.0.as_str()).collect();
    assert_eq!(topics.len(), 1 + 6 * 2 + 1, "{topics:?}");
    for channel in nuscenes::CAMERA_CHANNELS {
        let image = CompressedImage::decode(on(&all, &nuscenes::image_topic(channel))[0]).unwrap();
        assert_eq!((image.format, image.header.frame_id), ("jpeg", channel));
        let info = CameraInfo::decode(on(&all, &nuscenes::info_topic(channel))[0]).unwrap();
        assert_eq!((info.width, info.height), (1600, 900));
    }

    let cloud = PointCloud2::decode(on(&all, "/lidar_top/points")[0]).unwrap();
    assert_eq!(cloud.header.frame_id, "LIDAR_TOP");
    assert_eq!(cloud.header.stamp.as_nanos(), 1_532_402_927_647_951_000);
    let mut scan = LidarScan::new();
    scan.fill_from(&cloud).unwrap();
    assert_eq!(scan.len() as u64, pcd_len / 20);
    assert!(scan.ring.iter().all(|&r| r < 32) && scan.ring.contains(&31));

    let source: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("sample.json")).unwrap()).unwrap();
    let boxes: Vec<&serde_json::Value> = source["boxes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["category"] != "ignore")
        .collect();
    let truth = ObstacleArray::decode(on(&all, "/ground_truth/obstacles")[0]).unwrap();
    assert_eq!(truth.header.stamp, cloud.header.stamp);
    assert_eq!(truth.obstacles.len(), boxes.len());
    let f = |v: &serde_json::Value| v.as_f64().unwrap();
    let mut classes = BTreeMap::new();
    for (o, b) in truth.obstacles.iter().zip(&boxes) {
        let centre = [0, 1, 2].map(|k| f(&b["centre"][k]));
        let size = [0, 1, 2].map(|k| f(&b["size"][k]));
        assert!(close(o.center, centre, 0.01), "{o:?} vs {b}");
        assert!(close(o.size, size, 1e-9), "{o:?} vs {b}");
        let turn = (o.yaw - f(&b["yaw"])).rem_euclid(std::f64::consts::TAU);
        assert!(
            turn.min(std::f64::consts::TAU - turn) < 1e-3,
            "{o:?} vs {b}"
        );
        assert_eq!(o.point_count as u64, b["num_lidar_pts"].as_u64().unwrap());
        *classes.entry(o.label.as_str()).or_insert(0) += 1;
    }
    // bus and construction_vehicle are trucks; the bicycle has no rider
    // attribute, so it is unknown like barriers and cones.
    assert_eq!(
        classes,
        BTreeMap::from([
            ("car", 8),
            ("pedestrian", 30),
            ("truck", 4),
            ("unknown", 26)
        ])
    );
    let near = truth.obstacles.iter().find(|o| o.point_count > 50).unwrap();
    eprintln!("nuscenes near truth: {near:?}");
    assert!(near.nearest_distance.is_finite());

    // CAM_FRONT's calibration is sample.json's lidar2cam.
    let calibration = Calibration::load(summary.calibration_path.as_ref().unwrap()).unwrap();
    let lidar2cam = &source["cameras"]["CAM_FRONT"]["lidar2cam"];
    for p in [[0.0, 10.0, 0.0], [5.0, 30.0, -1.0], [-3.0, 2.0, 1.0]] {
        let expected = [0, 1, 2]
            .map(|r| (0..3).map(|c| f(&lidar2cam[r][c]) * p[c]).sum::<f64>() + f(&lidar2cam[r][3]));
        assert!(
            close(calibration.lidar_to_camera.apply(p), expected, 1e-3),
            "{p:?}"
        );
    }
}

// ------------------------------------------------------------ bad input ---

/// The import's error message, asserting it names `file` (and `parts`).
fn refused(result: Result<lookout::import::ImportSummary, ImportError>, parts: &[&str]) {
    let message = result.expect_err("bad input must be refused").to_string();
    for part in parts {
        assert!(message.contains(part), "{message:?} lacks {part:?}");
    }
}

/// A copy of the KITTI frame with `file` replaced by `edit(its content)`.
fn kitti_with(root: &Path, file: &str, edit: impl Fn(Vec<u8>) -> Vec<u8>) -> PathBuf {
    let dir = root.join("kitti");
    copy_tree(&real("kitti"), &dir);
    let path = dir.join(file);
    let bytes = std::fs::read(&path).unwrap_or_default();
    std::fs::write(&path, edit(bytes)).unwrap();
    dir
}

fn replace_line(bytes: Vec<u8>, line: usize, with: &str) -> Vec<u8> {
    let text = String::from_utf8(bytes).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[line - 1] = with;
    lines.join("\n").into_bytes()
}

/// A change to a file's bytes.
type Edit = Box<dyn Fn(Vec<u8>) -> Vec<u8>>;

#[test]
fn kitti_bad_input_names_the_file_and_line() {
    let calib = "calib/000134.txt";
    let label = "label_2/000134.txt";
    let cases: Vec<(&str, Edit, Vec<&str>)> = vec![
        (
            calib,
            Box::new(|b| {
                let text = String::from_utf8(b).unwrap();
                let kept: Vec<&str> = text
                    .lines()
                    .filter(|l| !l.starts_with("Tr_velo_to_cam"))
                    .collect();
                kept.join("\n").into_bytes()
            }),
            vec![calib, "no Tr_velo_to_cam"],
        ),
        (
            calib,
            Box::new(|b| replace_line(b, 3, "P2: 1 2 3 4 5 6 7 8 9 10 11")),
            vec![calib, ":3:", "P2", "11 numbers, expected 12"],
        ),
        (
            calib,
            Box::new(|b| replace_line(b, 5, "R0_rect: 1 0 0 0 1 0 0 0 one")),
            vec![calib, ":5:", "R0_rect[8]", "\"one\" is not a number"],
        ),
        (
            calib,
            Box::new(|b| replace_line(b, 3, "P3: 1 0 0 0 0 1 0 0 0 0 1 0")),
            vec![calib, "no P2"],
        ),
        (
            label,
            Box::new(|b| replace_line(b, 2, "Cyclist 0.00 1 -0.32 1084.56 129.65")),
            vec![label, ":2:", "x2", "6 fields, expected 15"],
        ),
        (
            label,
            Box::new(|b| {
                replace_line(
                    b,
                    4,
                    "Pedestrian 0.00 0 0.14 562.59 158.20 594.85 225.88 tall 0.69 1.03 -0.77 1.23 19.57 0.10",
                )
            }),
            vec![label, ":4:", "h:", "\"tall\""],
        ),
        (
            "velodyne/000134.bin",
            Box::new(|mut b| {
                b.pop();
                b
            }),
            vec!["velodyne/000134.bin", "305551 bytes", "16-byte"],
        ),
        (
            "image_2/000134.png",
            Box::new(|_| b"not a png".to_vec()),
            vec!["image_2/000134.png", "image header"],
        ),
    ];
    for (file, edit, parts) in cases {
        let root = tempfile::tempdir().unwrap();
        let dir = kitti_with(root.path(), file, edit);
        refused(
            kitti::import(&dir, None, &root.path().join("o.mcap")),
            &parts,
        );
    }
    let root = tempfile::tempdir().unwrap();
    let dir = kitti_with(root.path(), "x", |b| b);
    std::fs::remove_file(dir.join("image_2/000134.png")).unwrap();
    refused(
        kitti::import(&dir, None, &root.path().join("o.mcap")),
        &["image_2/000134.png: not found"],
    );
    refused(
        kitti::import(
            &root.path().join("nowhere"),
            None,
            &root.path().join("o.mcap"),
        ),
        &["nowhere: not found"],
    );
    refused(
        kitti::import(root.path(), None, &root.path().join("o.mcap")),
        &["neither velodyne/"],
    );
}

#[test]
fn kitti_raw_bad_timestamps_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let drive = raw_drive(dir.path());
    let stamps = drive.join("velodyne_points/timestamps.txt");
    let out = dir.path().join("o.mcap");
    std::fs::write(
        &stamps,
        "2011-09-26 13:02:25.964389445\n2011-09-26 25:02:26.0677\n",
    )
    .unwrap();
    refused(
        kitti::import(&drive, None, &out),
        &["velodyne_points/timestamps.txt:2:", "timestamp", "25:02:26"],
    );
    std::fs::write(&stamps, "2011-09-26 13:02:25.964389445\n").unwrap();
    refused(
        kitti::import(&drive, None, &out),
        &["velodyne_points/timestamps.txt", "1 timestamps for 2 files"],
    );
    std::fs::remove_file(drive.parent().unwrap().join("calib_cam_to_cam.txt")).unwrap();
    refused(
        kitti::import(&drive, None, &out),
        &["calib_cam_to_cam.txt: not found"],
    );
}

#[test]
fn nuscenes_bad_input_names_the_file_and_token() {
    let table = |name: &str| format!("v1.0-mini/{name}.json");
    let fixture = |root: &Path| {
        let dir = root.join("nuscenes");
        copy_tree(&real("nuscenes"), &dir);
        dir
    };
    let import = |dir: &Path| nuscenes::import(dir, "v1.0-mini", None, &dir.join("o.mcap"));

    let root = tempfile::tempdir().unwrap();
    let dir = fixture(root.path());
    std::fs::remove_file(dir.join(table("sample_annotation"))).unwrap();
    refused(import(&dir), &["sample_annotation.json: not found"]);

    let root = tempfile::tempdir().unwrap();
    let dir = fixture(root.path());
    let scene = std::fs::read(dir.join(table("scene"))).unwrap();
    std::fs::write(dir.join(table("scene")), &scene[..scene.len() / 2]).unwrap();
    refused(import(&dir), &["scene.json: invalid JSON"]);

    let root = tempfile::tempdir().unwrap();
    let dir = fixture(root.path());
    let path = dir.join(table("sample_data"));
    let text = std::fs::read_to_string(&path).unwrap();
    let ego: serde_json::Value = serde_json::from_str(&text).unwrap();
    let token = ego[0]["ego_pose_token"].as_str().unwrap().to_owned();
    std::fs::write(&path, text.replace(&token, "feedbeef")).unwrap();
    refused(
        import(&dir),
        &[
            "sample_data.json",
            "ego_pose_token",
            "\"feedbeef\"",
            "ego_pose.json",
        ],
    );

    let root = tempfile::tempdir().unwrap();
    let dir = fixture(root.path());
    refused(
        nuscenes::import(&dir, "v1.0-mini", Some("scene-9999"), &dir.join("o.mcap")),
        &["scene.json", "no scene named \"scene-9999\""],
    );
    refused(
        nuscenes::import(&dir, "v1.0-trainval", None, &dir.join("o.mcap")),
        &["v1.0-trainval: not found"],
    );
    let pcd = dir.join(
        "samples/LIDAR_TOP/n015-2018-07-24-11-22-45+0800__LIDAR_TOP__1532402927647951.pcd.bin",
    );
    let mut bytes = std::fs::read(&pcd).unwrap();
    bytes.truncate(bytes.len() - 7);
    std::fs::write(&pcd, &bytes).unwrap();
    refused(
        import(&dir),
        &[
            "LIDAR_TOP__1532402927647951.pcd.bin",
            "693753 bytes",
            "20-byte",
        ],
    );
    std::fs::remove_dir_all(dir.join("samples/CAM_BACK")).unwrap();
    refused(import(&dir), &["CAM_BACK__1532402927637525.jpg: not found"]);
}

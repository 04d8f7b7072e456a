//! `ros2msg` definition texts, and the full MCAP schema text of each type:
//! the type's own definition followed by every dependency in the rosbag2
//! convention (`=====...\nMSG: pkg/Type\n<definition>`), so rosbags and
//! Foxglove decode the files Lookout writes without knowing its types.

const SEPARATOR: &str =
    "================================================================================";

/// (short name as referenced in definitions, definition text).
const DEFINITIONS: &[(&str, &str)] = &[
    ("builtin_interfaces/Time", "int32 sec\nuint32 nanosec\n"),
    (
        "std_msgs/Header",
        "builtin_interfaces/Time stamp\nstring frame_id\n",
    ),
    ("geometry_msgs/Point", "float64 x\nfloat64 y\nfloat64 z\n"),
    ("geometry_msgs/Vector3", "float64 x\nfloat64 y\nfloat64 z\n"),
    (
        "geometry_msgs/Quaternion",
        "float64 x 0\nfloat64 y 0\nfloat64 z 0\nfloat64 w 1\n",
    ),
    (
        "geometry_msgs/Transform",
        "geometry_msgs/Vector3 translation\ngeometry_msgs/Quaternion rotation\n",
    ),
    (
        "geometry_msgs/TransformStamped",
        "std_msgs/Header header\nstring child_frame_id\ngeometry_msgs/Transform transform\n",
    ),
    (
        "tf2_msgs/TFMessage",
        "geometry_msgs/TransformStamped[] transforms\n",
    ),
    (
        "sensor_msgs/Image",
        "std_msgs/Header header\nuint32 height\nuint32 width\nstring encoding\nuint8 is_bigendian\nuint32 step\nuint8[] data\n",
    ),
    (
        "sensor_msgs/CompressedImage",
        "std_msgs/Header header\nstring format\nuint8[] data\n",
    ),
    (
        "sensor_msgs/RegionOfInterest",
        "uint32 x_offset\nuint32 y_offset\nuint32 height\nuint32 width\nbool do_rectify\n",
    ),
    (
        "sensor_msgs/CameraInfo",
        "std_msgs/Header header\nuint32 height\nuint32 width\nstring distortion_model\nfloat64[] d\nfloat64[9] k\nfloat64[9] r\nfloat64[12] p\nuint32 binning_x\nuint32 binning_y\nsensor_msgs/RegionOfInterest roi\n",
    ),
    (
        "sensor_msgs/PointField",
        "uint8 INT8 = 1\nuint8 UINT8 = 2\nuint8 INT16 = 3\nuint8 UINT16 = 4\nuint8 INT32 = 5\nuint8 UINT32 = 6\nuint8 FLOAT32 = 7\nuint8 FLOAT64 = 8\nstring name\nuint32 offset\nuint8 datatype\nuint32 count\n",
    ),
    (
        "sensor_msgs/PointCloud2",
        "std_msgs/Header header\nuint32 height\nuint32 width\nsensor_msgs/PointField[] fields\nbool is_bigendian\nuint32 point_step\nuint32 row_step\nuint8[] data\nbool is_dense\n",
    ),
    (
        "geometry_msgs/Pose",
        "geometry_msgs/Point position\ngeometry_msgs/Quaternion orientation\n",
    ),
    (
        "geometry_msgs/PoseWithCovariance",
        "geometry_msgs/Pose pose\nfloat64[36] covariance\n",
    ),
    (
        "geometry_msgs/Twist",
        "geometry_msgs/Vector3 linear\ngeometry_msgs/Vector3 angular\n",
    ),
    (
        "geometry_msgs/TwistWithCovariance",
        "geometry_msgs/Twist twist\nfloat64[36] covariance\n",
    ),
    (
        "geometry_msgs/Accel",
        "geometry_msgs/Vector3 linear\ngeometry_msgs/Vector3 angular\n",
    ),
    (
        "geometry_msgs/AccelWithCovariance",
        "geometry_msgs/Accel accel\nfloat64[36] covariance\n",
    ),
    ("geometry_msgs/Point32", "float32 x\nfloat32 y\nfloat32 z\n"),
    ("geometry_msgs/Polygon", "geometry_msgs/Point32[] points\n"),
    ("unique_identifier_msgs/UUID", "uint8[16] uuid\n"),
    (
        "vision_msgs/Detection3DArray",
        include_str!("../../interfaces/vision_msgs/msg/Detection3DArray.msg"),
    ),
    (
        "vision_msgs/Detection3D",
        include_str!("../../interfaces/vision_msgs/msg/Detection3D.msg"),
    ),
    (
        "vision_msgs/ObjectHypothesisWithPose",
        include_str!("../../interfaces/vision_msgs/msg/ObjectHypothesisWithPose.msg"),
    ),
    (
        "vision_msgs/ObjectHypothesis",
        include_str!("../../interfaces/vision_msgs/msg/ObjectHypothesis.msg"),
    ),
    (
        "vision_msgs/BoundingBox3D",
        include_str!("../../interfaces/vision_msgs/msg/BoundingBox3D.msg"),
    ),
    (
        "autoware_perception_msgs/DetectedObjects",
        include_str!("../../interfaces/autoware_perception_msgs/msg/DetectedObjects.msg"),
    ),
    (
        "autoware_perception_msgs/DetectedObject",
        include_str!("../../interfaces/autoware_perception_msgs/msg/DetectedObject.msg"),
    ),
    (
        "autoware_perception_msgs/DetectedObjectKinematics",
        include_str!("../../interfaces/autoware_perception_msgs/msg/DetectedObjectKinematics.msg"),
    ),
    (
        "autoware_perception_msgs/ObjectClassification",
        include_str!("../../interfaces/autoware_perception_msgs/msg/ObjectClassification.msg"),
    ),
    (
        "autoware_perception_msgs/Shape",
        include_str!("../../interfaces/autoware_perception_msgs/msg/Shape.msg"),
    ),
    (
        "autoware_perception_msgs/TrackedObjects",
        include_str!("../../interfaces/autoware_perception_msgs/msg/TrackedObjects.msg"),
    ),
    (
        "autoware_perception_msgs/TrackedObject",
        include_str!("../../interfaces/autoware_perception_msgs/msg/TrackedObject.msg"),
    ),
    (
        "autoware_perception_msgs/TrackedObjectKinematics",
        include_str!("../../interfaces/autoware_perception_msgs/msg/TrackedObjectKinematics.msg"),
    ),
    (
        "vision_msgs/Detection2DArray",
        include_str!("../../interfaces/vision_msgs/msg/Detection2DArray.msg"),
    ),
    (
        "vision_msgs/Detection2D",
        include_str!("../../interfaces/vision_msgs/msg/Detection2D.msg"),
    ),
    (
        "vision_msgs/BoundingBox2D",
        include_str!("../../interfaces/vision_msgs/msg/BoundingBox2D.msg"),
    ),
    (
        "vision_msgs/Pose2D",
        include_str!("../../interfaces/vision_msgs/msg/Pose2D.msg"),
    ),
    (
        "vision_msgs/Point2D",
        include_str!("../../interfaces/vision_msgs/msg/Point2D.msg"),
    ),
    (
        "foxglove_msgs/ImageAnnotations",
        include_str!("../../interfaces/foxglove_msgs/ros2/ImageAnnotations.msg"),
    ),
    (
        "foxglove_msgs/CircleAnnotation",
        include_str!("../../interfaces/foxglove_msgs/ros2/CircleAnnotation.msg"),
    ),
    (
        "foxglove_msgs/PointsAnnotation",
        include_str!("../../interfaces/foxglove_msgs/ros2/PointsAnnotation.msg"),
    ),
    (
        "foxglove_msgs/TextAnnotation",
        include_str!("../../interfaces/foxglove_msgs/ros2/TextAnnotation.msg"),
    ),
    (
        "foxglove_msgs/Point2",
        include_str!("../../interfaces/foxglove_msgs/ros2/Point2.msg"),
    ),
    ("builtin_interfaces/Duration", "int32 sec\nuint32 nanosec\n"),
    (
        "foxglove_msgs/SceneUpdate",
        include_str!("../../interfaces/foxglove_msgs/ros2/SceneUpdate.msg"),
    ),
    (
        "foxglove_msgs/SceneEntity",
        include_str!("../../interfaces/foxglove_msgs/ros2/SceneEntity.msg"),
    ),
    (
        "foxglove_msgs/SceneEntityDeletion",
        include_str!("../../interfaces/foxglove_msgs/ros2/SceneEntityDeletion.msg"),
    ),
    (
        "foxglove_msgs/KeyValuePair",
        include_str!("../../interfaces/foxglove_msgs/ros2/KeyValuePair.msg"),
    ),
    (
        "foxglove_msgs/ArrowPrimitive",
        include_str!("../../interfaces/foxglove_msgs/ros2/ArrowPrimitive.msg"),
    ),
    (
        "foxglove_msgs/CubePrimitive",
        include_str!("../../interfaces/foxglove_msgs/ros2/CubePrimitive.msg"),
    ),
    (
        "foxglove_msgs/SpherePrimitive",
        include_str!("../../interfaces/foxglove_msgs/ros2/SpherePrimitive.msg"),
    ),
    (
        "foxglove_msgs/CylinderPrimitive",
        include_str!("../../interfaces/foxglove_msgs/ros2/CylinderPrimitive.msg"),
    ),
    (
        "foxglove_msgs/LinePrimitive",
        include_str!("../../interfaces/foxglove_msgs/ros2/LinePrimitive.msg"),
    ),
    (
        "foxglove_msgs/TriangleListPrimitive",
        include_str!("../../interfaces/foxglove_msgs/ros2/TriangleListPrimitive.msg"),
    ),
    (
        "foxglove_msgs/TextPrimitive",
        include_str!("../../interfaces/foxglove_msgs/ros2/TextPrimitive.msg"),
    ),
    (
        "foxglove_msgs/ModelPrimitive",
        include_str!("../../interfaces/foxglove_msgs/ros2/ModelPrimitive.msg"),
    ),
    (
        "foxglove_msgs/Color",
        include_str!("../../interfaces/foxglove_msgs/ros2/Color.msg"),
    ),
    (
        "lookout_msgs/Obstacle",
        include_str!("../../lookout_msgs/msg/Obstacle.msg"),
    ),
    (
        "lookout_msgs/ObstacleArray",
        include_str!("../../lookout_msgs/msg/ObstacleArray.msg"),
    ),
    (
        "lookout_msgs/FrameReport",
        include_str!("../../lookout_msgs/msg/FrameReport.msg"),
    ),
    (
        "lookout_msgs/SensorStatus",
        include_str!("../../lookout_msgs/msg/SensorStatus.msg"),
    ),
    (
        "lookout_msgs/PipelineStatus",
        include_str!("../../lookout_msgs/msg/PipelineStatus.msg"),
    ),
    (
        "lookout_msgs/Detection2D",
        include_str!("../../lookout_msgs/msg/Detection2D.msg"),
    ),
    (
        "lookout_msgs/Detection2DArray",
        include_str!("../../lookout_msgs/msg/Detection2DArray.msg"),
    ),
];

fn definition(short_name: &str) -> Option<&'static str> {
    DEFINITIONS
        .iter()
        .find(|(name, _)| *name == short_name)
        .map(|(_, text)| *text)
}

/// `sensor_msgs/msg/Image` -> `sensor_msgs/Image`.
fn short_name(type_name: &str) -> String {
    type_name.replacen("/msg/", "/", 1)
}

/// Complex field types a definition refers to, resolved to `pkg/Type`.
fn dependencies(own_package: &str, text: &str) -> Vec<String> {
    let mut deps = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let Some(field_type) = line.split_whitespace().next() else {
            continue;
        };
        let base = field_type.split('[').next().unwrap_or(field_type);
        if base.chars().next().is_some_and(|c| c.is_ascii_uppercase()) {
            deps.push(format!("{own_package}/{base}"));
        } else if base.contains('/') {
            deps.push(base.to_owned());
        }
    }
    deps
}

/// The full schema text for `type_name` (`pkg/msg/Type`), dependencies
/// depth-first in order of first use, each once. Panics only for a type this
/// module does not define, which is a programming error caught by tests.
pub fn schema_text(type_name: &str) -> String {
    let root = short_name(type_name);
    let root_text =
        definition(&root).unwrap_or_else(|| panic!("no definition for message type {type_name}"));
    let mut out = root_text.to_owned();
    let mut seen = vec![root.clone()];
    let mut stack: Vec<String> = dependencies(package_of(&root), root_text);
    stack.reverse();
    while let Some(dep) = stack.pop() {
        if seen.contains(&dep) {
            continue;
        }
        let text = definition(&dep).unwrap_or_else(|| panic!("no definition for dependency {dep}"));
        out.push_str(SEPARATOR);
        out.push_str("\nMSG: ");
        out.push_str(&dep);
        out.push('\n');
        out.push_str(text);
        let mut children = dependencies(package_of(&dep), text);
        children.reverse();
        stack.extend(children);
        seen.push(dep);
    }
    out
}

fn package_of(short: &str) -> &str {
    short.split('/').next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_schema_lists_each_dependency_once() {
        let text = schema_text("sensor_msgs/msg/Image");
        assert!(text.starts_with("std_msgs/Header header\n"));
        assert_eq!(text.matches("MSG: std_msgs/Header").count(), 1);
        assert_eq!(text.matches("MSG: builtin_interfaces/Time").count(), 1);
    }

    #[test]
    fn every_published_type_resolves() {
        for t in [
            "sensor_msgs/msg/Image",
            "sensor_msgs/msg/CompressedImage",
            "sensor_msgs/msg/CameraInfo",
            "sensor_msgs/msg/PointCloud2",
            "lookout_msgs/msg/ObstacleArray",
            "lookout_msgs/msg/FrameReport",
            "lookout_msgs/msg/PipelineStatus",
            "vision_msgs/msg/Detection3DArray",
            "autoware_perception_msgs/msg/DetectedObjects",
            "autoware_perception_msgs/msg/TrackedObjects",
            "foxglove_msgs/msg/SceneUpdate",
            "foxglove_msgs/msg/ImageAnnotations",
            "vision_msgs/msg/Detection2DArray",
        ] {
            let text = schema_text(t);
            assert!(!text.is_empty());
        }
        let cloud = schema_text("sensor_msgs/msg/PointCloud2");
        assert!(cloud.contains("MSG: sensor_msgs/PointField"));
        let obstacles = schema_text("lookout_msgs/msg/ObstacleArray");
        assert!(obstacles.contains("MSG: lookout_msgs/Obstacle"));
        let status = schema_text("lookout_msgs/msg/PipelineStatus");
        assert!(status.contains("MSG: lookout_msgs/SensorStatus"));
        assert!(obstacles.contains("MSG: geometry_msgs/Vector3"));
    }
}

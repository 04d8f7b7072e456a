"""Launches `lookout node`.

    ros2 launch lookout lookout.launch.py namespace:=front params_file:=/path/params.yaml \
        model:=models/nanodet-m-416.yaml use_sim_time:=true \
        image:=/camera/image_raw camera_info:=/camera/camera_info points:=/lidar/points

Every parameter is listed with its default in lookout.params.yaml.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description():
    share = get_package_share_directory("lookout")
    args = [
        DeclareLaunchArgument("namespace", default_value="",
                              description="namespace of the node and its topics"),
        DeclareLaunchArgument("params_file",
                              default_value=os.path.join(share, "launch", "lookout.params.yaml"),
                              description="ROS params file (every knob: lookout.params.yaml)"),
        DeclareLaunchArgument("model", default_value="",
                              description="camera model spec (models/*.yaml); empty: lidar only"),
        DeclareLaunchArgument("use_sim_time", default_value="false",
                              description="follow /clock (bag replay with --clock)"),
        DeclareLaunchArgument("image", default_value="image", description="camera image topic"),
        DeclareLaunchArgument("camera_info", default_value="camera_info",
                              description="camera info topic"),
        DeclareLaunchArgument("points", default_value="points", description="lidar point cloud topic"),
        DeclareLaunchArgument("rig", default_value="",
                              description="rig file (rig/*.yaml): every camera and lidar with its "
                                          "topics; empty: one camera and one lidar on the topics above"),
    ]
    node = Node(
        package="lookout",
        executable="lookout",
        name="lookout",
        namespace=LaunchConfiguration("namespace"),
        arguments=["node"],
        output="screen",
        parameters=[
            LaunchConfiguration("params_file"),
            {
                "node.model": LaunchConfiguration("model"),
                "node.rig": LaunchConfiguration("rig"),
                "use_sim_time": LaunchConfiguration("use_sim_time"),
            },
        ],
        remappings=[
            ("image", LaunchConfiguration("image")),
            ("camera_info", LaunchConfiguration("camera_info")),
            ("points", LaunchConfiguration("points")),
        ],
    )
    return LaunchDescription(args + [node])

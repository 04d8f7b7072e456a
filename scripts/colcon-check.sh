#!/usr/bin/env bash
# Lookout built and run as on a vehicle: colcon (from PyPI, in .colcon)
# builds the `lookout` package (ament_cargo: colcon-ros-cargo and
# cargo-ament-build) as a workspace on top of the interface packages that
# scripts/setup-ros.sh built with colcon into .ros/overlay; then, with only
# the workspace's install/setup.bash sourced, the installed node is started
# with the command line the installed launch files describe (their params
# file; the synthetic detector from the installed models) and every output
# format, driven with a short synthetic scene over DDS
# (tests/ros/drive_node.py), and must publish each of them (the 2D formats
# with the detector's boxes).
#
# The build reuses the test build's cargo target directory (the workspace's
# build/lookout links to it, with the same features and environment), so no
# dependency is compiled again. Run after the tests.
# Needs: scripts/setup-ros.sh done; CARGO_TARGET_DIR (scripts/cache.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
# shellcheck source=scripts/cache.sh
. scripts/cache.sh
# shellcheck disable=SC1091
. .ros/env.sh
colcon="$PWD/.colcon/bin/colcon"
# cargo finds `cargo ament-build` (cargo-ament-build's wheel) on the PATH.
export PATH="$PWD/.colcon/bin:$PATH"
# The workspace, outside the checkout (colcon-ros-cargo writes
# .cargo/config.toml into the directory it runs in).
ws="$LOOKOUT_CACHE/colcon-ws"
rm -rf "$ws/install" "$ws/log"
mkdir -p "$ws/build"
# (A directory left there by hand would take the link inside it.)
[ -L "$ws/build/lookout" ] || rm -rf "$ws/build/lookout"
ln -sfn "$CARGO_TARGET_DIR" "$ws/build/lookout"
cd "$ws"
echo "== colcon build lookout (workspace $ws, underlay .ros/overlay)"
if ! "$colcon" build --paths "$repo" --packages-select lookout \
    --event-handlers console_cohesion- summary+ \
    --cargo-args --release --locked --features ros2,cuda > "$ws/colcon.log" 2>&1; then
    tail -80 "$ws/colcon.log"
    exit 1
fi
tail -3 "$ws/colcon.log"

share="$ws/install/lookout/share/lookout"
for installed in "$ws/install/lookout/lib/lookout/lookout" "$share/launch/lookout.params.yaml" \
    "$share/launch/lookout.launch.py" "$share/models" "$share/config/lookout.yaml"; do
    [ -e "$installed" ] || { echo "colcon-check: $installed was not installed"; exit 1; }
done

run="$(mktemp -d)"
# On any failure the node's log is shown before the run's files go.
finish() {
    local rc=$?
    kill "${node:-}" 2>/dev/null || true
    if [ "$rc" -ne 0 ] && [ -f "$run/node.log" ]; then
        echo "== the node's log"
        tail -40 "$run/node.log"
    fi
    rm -rf "$run"
    exit "$rc"
}
trap finish EXIT
# The environment a vehicle's shell has: the workspace sourced (its
# setup.bash sources the underlay it was built on). Then the installed node
# with the launch files' command line (defaults: the installed params file
# and the default model), its inputs remapped to the scene's topics.
# (colcon's setup scripts read unset variables.)
set +u
# shellcheck disable=SC1091
. "$ws/install/setup.bash"
set -u
LD_PRELOAD="$LOOKOUT_ROS_PRELOAD" "$ws/install/lookout/lib/lookout/lookout" synth --out "$run/scene.mcap" --seconds 4 --seed 5 > /dev/null
# The launch files' node, as ros2 launch would start it (launch is not on
# PyPI: tests/ros/launch_command.py reads both files and prints it).
"$repo/.ros/bin/python" "$repo/tests/ros/launch_command.py" "$share/launch" "$share" \
    use_sim_time:=true model:=models/synthetic-det.yaml image:=/camera/image_raw \
    camera_info:=/camera/camera_info points:=/lidar/points > "$run/launch.json"
mapfile -t command < <("$repo/.ros/bin/python" -c '
import json, sys
launch = json.load(open(sys.argv[1]))
print(sys.argv[2] + "/lib/lookout/" + launch["executable"])
print(*launch["args"], sep="\n")' "$run/launch.json" "$ws/install/lookout")
# Every output format on: the 2D ones carry the detector's boxes.
command+=(-p "output.formats:=[lookout,vision_msgs,autoware,foxglove]")
[ "${#command[@]}" -gt 2 ] || { echo "colcon-check: no node command from the launch files"; exit 1; }
echo "== installed node: ${command[*]}"
export ROS_DOMAIN_ID=97 ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
unset ROS_LOCALHOST_ONLY
# From elsewhere than the checkout: the relative model is found in the
# installed share directory.
(cd "$run" && exec env LD_PRELOAD="$LOOKOUT_ROS_PRELOAD" "${command[@]}" > "$run/node.log" 2>&1) &
node=$!
"$repo/.ros/bin/python" "$repo/tests/ros/drive_node.py" "$run/scene.mcap" "$run/driven.json" --formats
"$repo/.ros/bin/python" - "$run/driven.json" <<'PY'
import json, sys
received = json.load(open(sys.argv[1]))["received"]
arrays = received["obstacles"]
obstacles = sum(len(a["obstacles"]) for a in arrays)
boxes = sum(len(m["detections"]) for m in received["detections_2d"])
outlines = sum(len(m["outlines"]) for m in received["image_annotations"])
# The same frame's detections in both 2D formats: as many outlines as boxes.
outlined = {m["stamp"]: len(m["outlines"]) for m in received["image_annotations"]}
same_boxes = all(outlined[m["stamp"]] == len(m["detections"])
                 for m in received["detections_2d"] if m["stamp"] in outlined)
print(f"== the installed node published {len(arrays)} obstacle arrays ({obstacles} obstacles), "
      f"{len(received['status'])} status messages; in the other formats "
      + ", ".join(f"{len(received[k])} {k}" for k in
                  ("detections_3d", "objects", "tracked_objects", "scene",
                   "detections_2d", "image_annotations"))
      + f" ({boxes} 2D boxes, {outlines} outlines)")
# 40 scans and 60 images sent; the first ones go by while discovery
# settles. The scene holds tens of obstacles and the detector finds about
# twenty boxes a frame; both 2D formats carry the same boxes.
ok = (len(arrays) >= 20 and obstacles >= 10 * len(arrays) and received["status"]
      and all(len(received[k]) >= 20 for k in ("detections_3d", "objects", "tracked_objects", "scene"))
      and len(received["detections_2d"]) >= 20 and boxes >= 5 * len(received["detections_2d"])
      and len(received["image_annotations"]) >= 20 and same_boxes)
sys.exit(0 if ok else 1)
PY
kill -INT "$node"
wait "$node"
node=
# The model came from the installed share directory.
if ! loaded="$(grep -F "$share/models/synthetic-det" "$run/node.log")"; then
    echo "colcon-check: the node did not load the installed model"
    exit 1
fi
echo "${loaded%%$'\n'*}"

#!/usr/bin/env python3
"""Checks that the message definitions a bag carries are the upstream ones.

Usage: check_output_types.py BAG INTERFACES_DIR

Every type the bag's MCAP schemas define (the root types and each dependency
in them) is parsed with rosbags from the file alone and compared, field by
field and constant by constant, with the reference: the ROS 2 Jazzy
typestore rosbags ships (std_msgs, geometry_msgs, unique_identifier_msgs,
...) plus the .msg files of every package under INTERFACES_DIR (vision_msgs,
autoware_perception_msgs, foxglove_msgs, as their packages publish them). Types found in
neither are listed and fail the check, unless they are lookout_msgs' own.
Prints one line per type checked; exits 1 on any difference.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rosbags.highlevel import AnyReader
from rosbags.typesys import Stores, get_types_from_msg, get_typestore


def reference(interfaces: Path) -> dict:
    store = get_typestore(Stores.ROS2_JAZZY)
    types = {}
    # foxglove_msgs keeps its ROS 2 definitions in ros2/ (copied to msg/ at
    # build time).
    for path in sorted([*interfaces.glob('*/msg/*.msg'), *interfaces.glob('*/ros2/*.msg')]):
        name = f'{path.parent.parent.name}/msg/{path.stem}'
        types.update(get_types_from_msg(path.read_text(), name))
    store.register(types)
    return store.fielddefs


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    bag, interfaces = Path(sys.argv[1]), Path(sys.argv[2])
    expected = reference(interfaces)
    found = {}
    with AnyReader([bag]) as reader:
        for connection in reader.connections:
            found.update(get_types_from_msg(connection.msgdef.data, connection.msgtype))
    failed = False
    for name in sorted(found):
        if name.startswith('lookout_msgs/'):
            continue
        if name not in expected:
            print(f'{name}: not an upstream type')
            failed = True
            continue
        ok = found[name] == expected[name]
        print(f'{name}: {"same as upstream" if ok else "DIFFERS"}')
        if not ok:
            print(f'  file:     {found[name]}\n  upstream: {expected[name]}')
            failed = True
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())

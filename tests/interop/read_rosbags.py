#!/usr/bin/env python3
"""Dumps every message of a bag as JSON, read with rosbags' AnyReader.

Usage: read_rosbags.py BAG OUT.json

BAG is a .mcap file or a rosbag2 directory. The types are taken from the
message definitions stored in the bag (MCAP schemas), never from a built-in
typestore, so Lookout's own lookout_msgs types decode only if the schema text
Lookout writes is complete and correct.

Output:
  {"connections": [{"topic", "msgtype", "msgcount"}],
   "types": {msgtype: {"fields": [[name, type]], "constants": {name: [type, value]}}},
   "messages": [{"topic", "msgtype", "log_time", "msg": {field: value}}]}
in the order AnyReader yields them (log-time order). Field values: integers
and booleans as such, floats as JSON floats (float32 widened exactly) except
non-finite ones as "nan", "inf", "-inf"; uint8/int8 arrays as
{"len": n, "sha256": hex}; other arrays as lists; nested messages as objects.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from pathlib import Path

import numpy as np
from rosbags.highlevel import AnyReader
from rosbags.interfaces import Nodetype
from rosbags.typesys import get_types_from_msg


def jfloat(value: float) -> float | str:
    if math.isnan(value):
        return 'nan'
    if math.isinf(value):
        return 'inf' if value > 0 else '-inf'
    return value


class Dumper:
    """Converts deserialized messages to JSON values, field by field as the
    typestore (built from the bag's definitions) declares them."""

    def __init__(self, typestore: object) -> None:
        self.fielddefs = typestore.fielddefs

    def message(self, value: object) -> dict:
        _, fields = self.fielddefs[value.__msgtype__]
        return {name: self.value(getattr(value, name)) for name, _ in fields}

    def value(self, value: object) -> object:
        if isinstance(value, bool | np.bool_):
            return bool(value)
        if isinstance(value, int | np.integer):
            return int(value)
        if isinstance(value, float | np.floating):
            return jfloat(float(value))
        if isinstance(value, str):
            return value
        if isinstance(value, np.ndarray):
            if value.dtype in (np.uint8, np.int8):
                raw = value.tobytes()
                return {'len': len(raw), 'sha256': hashlib.sha256(raw).hexdigest()}
            return [self.value(v) for v in value.tolist()]
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        if hasattr(value, '__msgtype__'):
            return self.message(value)
        raise TypeError(f'cannot dump {type(value).__name__}: {value!r}')


def describe(desc: tuple) -> str:
    """A field type as ros2msg spells it: uint32, pkg/msg/Type, float64[9], T[]."""
    kind, detail = desc
    if kind == Nodetype.BASE:
        name, bound = detail
        return f'{name}<={bound}' if bound else name
    if kind == Nodetype.NAME:
        return detail
    inner, size = detail
    if kind == Nodetype.ARRAY:
        return f'{describe(inner)}[{size}]'
    return f'{describe(inner)}[<={size}]' if size else f'{describe(inner)}[]'


def types_of(typestore: object, names: list[str]) -> dict:
    """Fields and constants of each type in names, as the typestore parsed them."""
    out = {}
    for name in sorted(names):
        consts, fields = typestore.fielddefs[name]
        out[name] = {
            'fields': [[field, describe(desc)] for field, desc in fields],
            'constants': {const: [typ, value] for const, typ, value in consts},
        }
    return out


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    bag, out = Path(sys.argv[1]), Path(sys.argv[2])
    with AnyReader([bag]) as reader:
        # AnyReader registers the types of every connection's msgdef itself;
        # make sure, and register any it missed from the stored definitions.
        missing = {}
        for connection in reader.connections:
            if connection.msgtype not in reader.typestore.types:
                missing.update(get_types_from_msg(connection.msgdef.data, connection.msgtype))
        if missing:
            reader.typestore.register(missing)
        dumper = Dumper(reader.typestore)
        messages = []
        for connection, log_time, raw in reader.messages():
            msg = reader.deserialize(raw, connection.msgtype)
            messages.append(
                {
                    'topic': connection.topic,
                    'msgtype': connection.msgtype,
                    'log_time': log_time,
                    'msg': dumper.message(msg),
                }
            )
        dump = {
            'connections': [
                {'topic': c.topic, 'msgtype': c.msgtype, 'msgcount': c.msgcount}
                for c in reader.connections
            ],
            'types': types_of(reader.typestore, list(reader.typestore.fielddefs)),
            'messages': messages,
        }
    out.write_text(json.dumps(dump, indent=1, allow_nan=False))
    return 0


if __name__ == '__main__':
    sys.exit(main())

"""The `lookout` command line that launch/lookout.launch.xml and
launch/lookout.launch.py describe, for given launch arguments.

ROS 2's `launch` packages are not on PyPI, so the tests cannot run
`ros2 launch`. This reads both files (the XML with ElementTree, the Python
with `ast`, without executing it), checks that they declare the same
arguments with the same defaults and build the same node, and prints the
equivalent command as JSON: {"args": [...], "declared": {...}}.

Usage: launch_command.py LAUNCH_DIR SHARE_DIR [name:=value ...]
SHARE_DIR stands for $(find-pkg-share lookout) / get_package_share_directory.
"""

import ast
import json
import re
import sys
import xml.etree.ElementTree as ET


def xml_launch(path, share):
    root = ET.parse(path).getroot()
    declared = {a.get("name"): a.get("default", "") for a in root.findall("arg")}
    declared = {k: v.replace("$(find-pkg-share lookout)", share) for k, v in declared.items()}
    (node,) = root.findall("node")
    return declared, {
        "package": node.get("pkg"),
        "executable": node.get("exec"),
        "name": node.get("name"),
        "namespace": node.get("namespace"),
        "arguments": node.get("args", "").split(),
        "params_files": [p.get("from") for p in node.findall("param") if p.get("from")],
        "params": {p.get("name"): p.get("value") for p in node.findall("param") if p.get("name")},
        "remaps": [(r.get("from"), r.get("to")) for r in node.findall("remap")],
    }


def py_value(node, share):
    """A launch.py expression as the XML would write it."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Call):
        name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
        if name == "LaunchConfiguration":
            return "$(var %s)" % node.args[0].value
        if name == "join":  # os.path.join(share, ...)
            return "/".join([share] + [a.value for a in node.args[1:]])
    if isinstance(node, ast.List):
        return [py_value(e, share) for e in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(py_value(e, share) for e in node.elts)
    if isinstance(node, ast.Dict):
        return {py_value(k, share): py_value(v, share) for k, v in zip(node.keys, node.values)}
    raise ValueError("launch.py: cannot read %s" % ast.dump(node))


def py_launch(path, share):
    tree = ast.parse(open(path).read())
    declared, node = {}, None
    for call in ast.walk(tree):
        if not isinstance(call, ast.Call):
            continue
        name = getattr(call.func, "id", None)
        kw = {k.arg: k.value for k in call.keywords}
        if name == "DeclareLaunchArgument":
            declared[call.args[0].value] = py_value(kw.get("default_value", ast.Constant("")), share)
        elif name == "Node":
            node = {k: py_value(v, share) for k, v in kw.items()}
    params = node["parameters"]
    return declared, {
        "package": node["package"],
        "executable": node["executable"],
        "name": node["name"],
        "namespace": node["namespace"],
        "arguments": node["arguments"],
        "params_files": [p for p in params if isinstance(p, str)],
        "params": {k: v for p in params if isinstance(p, dict) for k, v in p.items()},
        "remaps": [tuple(r) for r in node["remappings"]],
    }


def substitute(text, values):
    return re.sub(r"\$\(var (\w+)\)", lambda m: values[m.group(1)], text)


def main():
    launch_dir, share = sys.argv[1], sys.argv[2]
    given = dict(a.split(":=", 1) for a in sys.argv[3:])
    xml_declared, xml_node = xml_launch(launch_dir + "/lookout.launch.xml", share)
    py_declared, py_node = py_launch(launch_dir + "/lookout.launch.py", share)
    if xml_declared != py_declared:
        sys.exit("launch files declare different arguments: %s vs %s" % (xml_declared, py_declared))
    if xml_node != py_node:
        sys.exit("launch files build different nodes: %s vs %s" % (xml_node, py_node))
    unknown = set(given) - set(xml_declared)
    if unknown:
        sys.exit("not launch arguments: %s" % sorted(unknown))
    values = {**xml_declared, **given}
    node = xml_node
    args = list(node["arguments"]) + ["--ros-args", "-r", "__node:=" + node["name"]]
    namespace = substitute(node["namespace"], values)
    if namespace:
        args += ["-r", "__ns:=" + (namespace if namespace.startswith("/") else "/" + namespace)]
    for f in node["params_files"]:
        args += ["--params-file", substitute(f, values)]
    for name, value in node["params"].items():
        args += ["-p", "%s:=%s" % (name, substitute(value, values) or "''")]
    for src, dst in node["remaps"]:
        args += ["-r", "%s:=%s" % (src, substitute(dst, values))]
    json.dump({"executable": node["executable"], "args": args, "declared": xml_declared}, sys.stdout)


if __name__ == "__main__":
    main()

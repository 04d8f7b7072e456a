#!/usr/bin/env python3
"""The module graph of src/ has no import cycles, no file under src/ holds
more than 900 lines of code before its tests, and ARCHITECTURE.md names
only modules that exist.

Each file under src/ is a module. A file depends on every module whose path
it names (`use crate::a::b`, `super::x`, `crate::a::b::f()` in code; test
modules, `#[cfg(test)]`, are left out: tests may look anywhere). A path is
resolved to the deepest file that exists, so `crate::lidar::LidarConfig`
is a dependency on src/lidar/mod.rs. A parent's own `mod` declarations and
re-exports of its children are not imports: edges from a mod.rs into its own
subtree are dropped. Two graphs are checked: files, and the top-level modules
(`crate::camera`, `crate::sched`, ...) the files belong to.

Exit status 1 and each cycle printed when there is one; `--graph` prints the
top-level graph (one `module -> deps` line each).
"""
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
# Binaries and the crate root declare modules; they are not layers.
ROOTS = {"lib.rs", "main.rs"}


def module_of(path: Path) -> tuple:
    rel = path.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "mod":
        parts.pop()
    return tuple(parts)


def strip(text: str) -> str:
    """Source without comments, strings and test modules."""
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r'r#*"(?:.|\n)*?"#*', '""', text)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+\w+\s*\{", text):
        if m.start() < i:
            continue
        out.append(text[i:m.start()])
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


def use_paths(tree: str, prefix: list) -> list:
    """Expands a use tree (`a::{b, c::d}`) into its paths."""
    tree = tree.strip()
    depth, start = 0, None
    for k, ch in enumerate(tree):
        if ch == "{":
            if depth == 0:
                start = k
            depth += 1
        elif ch == "}":
            depth -= 1
    if start is None:
        return [prefix + [p for p in tree.split("::") if p]]
    head = [p for p in tree[:start].split("::") if p]
    inner = tree[start + 1:tree.rindex("}")]
    parts, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += {"{": 1, "}": -1}.get(ch, 0)
        cur += ch
    parts.append(cur)
    paths = []
    for p in parts:
        if p.strip():
            paths += use_paths(p, prefix + head)
    return paths


def resolve(me: tuple, path: list, files: set):
    """The module file a path names, or None outside the crate."""
    path = [re.sub(r"\s+as\s+\w+$", "", p).strip() for p in path]
    if not path:
        return None
    if path[0] == "crate":
        base, rest = (), path[1:]
    elif path[0] in ("super", "self"):
        base = list(me)
        rest = path
        while rest and rest[0] in ("super", "self"):
            if rest[0] == "super":
                base = base[:-1]
            rest = rest[1:]
        base = tuple(base)
    else:
        return None
    best = base if base in files else None
    cur = base
    for part in rest:
        cur = cur + (part,)
        if cur in files:
            best = cur
        else:
            break
    return best


def graph():
    files = {}
    for path in SRC.rglob("*.rs"):
        if path.relative_to(SRC).as_posix() in ROOTS:
            continue
        files[module_of(path)] = strip(path.read_text())
    names = set(files)
    edges = {m: set() for m in files}
    for me, text in files.items():
        for m in re.finditer(r"\buse\s+((?:crate|super|self)\b[^;]*);", text):
            for p in use_paths(m.group(1), []):
                target = resolve(me, p, names)
                if target is not None:
                    edges[me].add(target)
        body = re.sub(r"\buse\s+[^;]*;", "", text)
        for m in re.finditer(r"\b((?:crate|super|self)(?:::\w+)+)", body):
            target = resolve(me, m.group(1).split("::"), names)
            if target is not None:
                edges[me].add(target)
    for me in edges:
        edges[me].discard(me)
        # A parent owns its children: declaring or re-exporting them is not
        # an import.
        edges[me] = {t for t in edges[me] if t[:len(me)] != me}
    return edges


def cycles(edges: dict) -> list:
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def top_level(edges: dict) -> dict:
    top = {}
    for src, dsts in edges.items():
        top.setdefault(src[0], set())
        for d in dsts:
            if d and d[0] != src[0]:
                top[src[0]].add(d[0])
    return top


def name(m: tuple) -> str:
    return "crate::" + "::".join(m) if m else "crate"


def witness(edges: dict, comp: list) -> str:
    """One edge list inside a cycle, for the message."""
    inside = set(comp)
    lines = []
    for v in comp:
        for w in sorted(edges.get(v, ())):
            if w in inside:
                lines.append(f"    {name(v)} -> {name(w)}")
    return "\n".join(lines)


def architecture_names() -> list:
    """Module paths ARCHITECTURE.md names (`crate::a::b` or `src/a/b.rs`)."""
    doc = ROOT / "ARCHITECTURE.md"
    if not doc.exists():
        return ["ARCHITECTURE.md is missing"]
    text = doc.read_text()
    missing = []
    for m in re.finditer(r"`src/([\w/]+\.rs)`", text):
        if not (SRC / m.group(1)).exists():
            missing.append(f"src/{m.group(1)}")
    for m in re.finditer(r"`crate::([\w:]+)`", text):
        parts = m.group(1).split("::")
        base = SRC.joinpath(*parts)
        if not (base.with_suffix(".rs").exists() or (base / "mod.rs").exists()):
            missing.append(f"crate::{m.group(1)}")
    return missing


MAX_CODE_LINES = 900


def oversized() -> list:
    """Files over MAX_CODE_LINES lines before their test module."""
    out = []
    for path in sorted(SRC.rglob("*.rs")):
        lines = path.read_text().split("\n")
        code = len(lines)
        for i, line in enumerate(lines):
            if line.startswith("#[cfg(test)]"):
                code = i
        if code > MAX_CODE_LINES:
            out.append(f"{path.relative_to(ROOT)}: {code} lines before its tests (at most {MAX_CODE_LINES})")
    return out


def main() -> int:
    edges = graph()
    if "--graph" in sys.argv:
        for m, deps in sorted(top_level(edges).items()):
            print(f"{m} -> {', '.join(sorted(deps))}")
        return 0
    failed = False
    for comp in cycles(edges):
        failed = True
        print(f"import cycle among {', '.join(name(m) for m in comp)}:")
        print(witness(edges, comp))
    top = {(k,): {(d,) for d in v} for k, v in top_level(edges).items()}
    for comp in cycles(top):
        failed = True
        print(f"import cycle among top-level modules {', '.join(name(m) for m in comp)}:")
        inside = {c[0] for c in comp}
        for src, dsts in sorted(edges.items()):
            for d in sorted(dsts):
                if src[0] in inside and d and d[0] in inside and d[0] != src[0]:
                    print(f"    {name(src)} -> {name(d)}")
    for line in oversized():
        failed = True
        print(line)
    if "--no-doc" not in sys.argv:
        for missing in architecture_names():
            failed = True
            print(f"ARCHITECTURE.md names {missing}, which does not exist")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

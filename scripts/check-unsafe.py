#!/usr/bin/env python3
"""`unsafe` only in the FFI modules, and every unsafe block or impl with a
`// SAFETY:` comment just above it (or on its line).

The FFI modules: src/gpu/, src/camera/preprocess/gpu.rs and
src/camera/gpu_check.rs (CUDA through cudarc) and
src/camera/engine/tensorrt/ (our TensorRT binding). Exits 1 naming each
offending line. Run by scripts/test.sh."""

import pathlib
import re
import sys

FFI = (
    "src/gpu/",
    "src/camera/preprocess/gpu.rs",
    "src/camera/gpu_check.rs",
    "src/camera/engine/tensorrt/",
)
UNSAFE = re.compile(r"\bunsafe\b")
# `unsafe fn` declarations and `unsafe extern` blocks state a contract;
# the blocks and impls that discharge one need the comment.
NEEDS_SAFETY = re.compile(r"\bunsafe\s*(\{|impl\b)")


def code(line: str) -> str:
    """The line without a trailing // comment or string contents."""
    line = re.sub(r'"(\\.|[^"\\])*"', '""', line)
    return line.split("//", 1)[0]


def main() -> int:
    root = pathlib.Path(__file__).resolve().parent.parent
    problems = []
    for path in sorted(root.glob("**/*.rs")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(("target/", ".")) or "/target/" in rel:
            continue
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            text = code(line)
            if not UNSAFE.search(text):
                continue
            if not rel.startswith(FFI):
                problems.append(f"{rel}:{i + 1}: `unsafe` outside the FFI modules: {line.strip()}")
                continue
            if NEEDS_SAFETY.search(text):
                # The comment block right above (or this line).
                j = i
                window = [line]
                while j > 0 and lines[j - 1].strip().startswith("//"):
                    j -= 1
                    window.append(lines[j])
                # A statement split over lines: look a few lines further up.
                window += lines[max(0, i - 4):i]
                if not any("SAFETY:" in w for w in window):
                    problems.append(f"{rel}:{i + 1}: unsafe without a `// SAFETY:` comment: {line.strip()}")
    for p in problems:
        print(p)
    if problems:
        return 1
    print(f"unsafe: only in {', '.join(FFI)}, each block and impl with its SAFETY comment")
    return 0


if __name__ == "__main__":
    sys.exit(main())

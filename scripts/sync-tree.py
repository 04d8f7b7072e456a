#!/usr/bin/env python3
"""Makes DST hold exactly SRC's working tree (tracked files and untracked
ones git does not ignore), rewriting only the files whose bytes or mode
differ, and removing what an earlier sync put there and SRC no longer has.

.ci/run builds in one fixed folder: cargo identifies a path package by its
path, so every fresh clone in a new folder would rebuild Lookout itself and
all its test binaries. Files left untouched keep their old modification
times, so cargo sees them unchanged; a changed file gets the current time
and is rebuilt. Ignored files in DST (the venv links, demo output) stay.
"""

import os
import shutil
import subprocess
import sys

MANIFEST = ".synced-files"


def tree_files(src):
    out = subprocess.run(
        ["git", "-C", src, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        check=True,
        capture_output=True,
    ).stdout
    return sorted({f for f in out.decode().split("\0") if f and os.path.lexists(os.path.join(src, f))})


def same(a, b):
    if not os.path.lexists(b) or os.path.islink(a) != os.path.islink(b):
        return False
    if os.path.islink(a):
        return os.readlink(a) == os.readlink(b)
    if os.stat(a).st_mode != os.stat(b).st_mode or os.path.getsize(a) != os.path.getsize(b):
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        return fa.read() == fb.read()


def main(src, dst):
    files = tree_files(src)
    os.makedirs(dst, exist_ok=True)
    manifest = os.path.join(dst, MANIFEST)
    old = set(open(manifest).read().split("\0")) if os.path.exists(manifest) else set()
    changed = 0
    for f in files:
        a, b = os.path.join(src, f), os.path.join(dst, f)
        if same(a, b):
            continue
        changed += 1
        os.makedirs(os.path.dirname(b), exist_ok=True)
        if os.path.lexists(b):
            os.remove(b) if not os.path.isdir(b) or os.path.islink(b) else shutil.rmtree(b)
        if os.path.islink(a):
            os.symlink(os.readlink(a), b)
        else:
            shutil.copyfile(a, b)
            shutil.copymode(a, b)
    gone = sorted(old - set(files) - {""})
    for f in gone:
        b = os.path.join(dst, f)
        if os.path.lexists(b) and not os.path.isdir(b):
            os.remove(b)
    with open(manifest, "w") as out:
        out.write("\0".join(files))
    print(f"sync-tree: {len(files)} files, {changed} written, {len(gone)} removed -> {dst}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: sync-tree.py SRC DST")
    main(sys.argv[1], sys.argv[2])

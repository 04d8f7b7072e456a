# Sourced by scripts/test.sh, scripts/fuzz.sh and .ci/run: what they keep
# between runs, outside the clone, so that a new clone reuses it.
#
#   $LOOKOUT_CACHE (default ~/.cache/lookout)
#     target-<toolchain>/  the cargo target directory (CARGO_TARGET_DIR) of
#                          the tests, clippy, the fuzz targets and the demo;
#                          <toolchain> is a hash of `rustc -vV`, so another
#                          compiler never sees this one's artefacts
#     venv-test-<hash>/    the Python test venv (.venv-test links to it)
#     ros-<hash>/          ROS 2 Jazzy wheels + lookout_msgs (.ros links to it)
#     ci-tree/             the tree .ci/run builds in (see .ci/run)
#   <hash> is of the requirements file and the Python version.
#
# `rm -rf ~/.cache/lookout` clears all of it; the next run rebuilds it.
# A target directory over $LOOKOUT_CACHE_MAX_GB (default 40) is cleared at
# the start of a run (every checkout path adds its own copy of Lookout's
# own artefacts), and those of other toolchains are removed after 14 days.
LOOKOUT_CACHE="${LOOKOUT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lookout}"
export LOOKOUT_CACHE
mkdir -p "$LOOKOUT_CACHE"

lookout_toolchain="$(rustc -vV | sha256sum | cut -c1-12)"
if [ -z "${CARGO_TARGET_DIR:-}" ]; then
    export CARGO_TARGET_DIR="$LOOKOUT_CACHE/target-$lookout_toolchain"
    mkdir -p "$CARGO_TARGET_DIR"
    touch "$CARGO_TARGET_DIR"
    find "$LOOKOUT_CACHE" -mindepth 1 -maxdepth 1 -name 'target-*' -mtime +14 \
        ! -path "$CARGO_TARGET_DIR" -exec rm -rf {} +
    lookout_cache_kb="$(du -sk "$CARGO_TARGET_DIR" | cut -f1)"
    if [ "$lookout_cache_kb" -gt $(( ${LOOKOUT_CACHE_MAX_GB:-40} * 1024 * 1024 )) ]; then
        echo "== $CARGO_TARGET_DIR holds $(( lookout_cache_kb / 1024 / 1024 )) GiB: cleared"
        rm -rf "$CARGO_TARGET_DIR"
        mkdir -p "$CARGO_TARGET_DIR"
    fi
fi
# Release builds are not incremental; the test and dev builds of a checkout
# that moves would only pile up incremental state nobody reuses.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

# lookout_venv NAME REQUIREMENTS PYTHON: the cached venv for these
# requirements, created and filled once (a venv whose install did not finish
# is made again), linked from the checkout as NAME; prints its path.
lookout_venv() {
    local name="$1" requirements="$2" python="$3" key
    key="$( { cat "$requirements"; "$python" -VV; } | sha256sum | cut -c1-12)"
    local dir="$LOOKOUT_CACHE/${name#.}-$key"
    # An old in-tree venv (before the cache) is replaced by the link.
    if [ -e "$name" ] && [ ! -L "$name" ]; then rm -rf "$name"; fi
    ln -sfn "$dir" "$name"
    if [ ! -e "$dir/.complete" ]; then
        echo "== creating $dir from $requirements" >&2
        rm -rf "$dir"
        "$python" -m venv "$dir" >&2
        "$dir/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" >&2
        touch "$dir/.complete"
    fi
    echo "$dir"
}

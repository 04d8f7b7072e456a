# Sourced by scripts/test.sh, scripts/fuzz.sh and .ci/run: `step NAME CMD...`
# runs CMD under a "== NAME" heading and appends its seconds to
# $LOOKOUT_STEP_TIMES (when set), which .ci/run prints as a table at the end.
# CMD runs in a subshell with errexit on: called from `cmd || ...`, bash
# would ignore errexit inside a function and run on past a failed command.
step() {
    local name="$1" started rc
    shift
    echo "== $name"
    started=$(date +%s)
    set +e
    (
        set -e
        "$@"
    )
    rc=$?
    set -e
    if [ -n "${LOOKOUT_STEP_TIMES:-}" ]; then
        printf '%s\t%s\n' "$name" "$(( $(date +%s) - started ))" >> "$LOOKOUT_STEP_TIMES"
    fi
    return "$rc"
}

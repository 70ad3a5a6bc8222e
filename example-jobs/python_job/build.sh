#!/usr/bin/env bash
# The Python example (plugin wasmcron.examples.python): componentize-py bundles CPython
# and app.py into a component of the world `job-with-http` (wit/world.wit here: the
# contract's world `job`, from the repository's wit/job.wit, plus
# wasi:http/outgoing-handler), generating the `wit_world` bindings as it goes.
# Usage: see ../lib.sh.
source "$(dirname "$0")/../lib.sh"

PLUGIN=wasmcron.examples.python
VERSION=0.25.1
DIR="$ROOT/example-jobs/python_job"
WORK="$ROOT/target/guests/python_job"
COMPONENTIZE_PY="$VENV/bin/componentize-py"

have_toolchain() {
    [ -x "$COMPONENTIZE_PY" ] && [ "$("$COMPONENTIZE_PY" --version 2>/dev/null)" = "componentize-py $VERSION" ]
}

case "${1:-}" in
install)
    have_toolchain && exit 0
    venv_install "componentize-py==$VERSION"
    ;;
build)
    out="${2:?usage: build.sh build <out-dir>}"
    have_toolchain ||
        skip "Python: componentize-py $VERSION is not installed (example-jobs/python_job/build.sh install)"
    start=$(now)
    # Build from a copy: the interpreter that componentize-py runs writes __pycache__
    # next to the sources.
    rm -rf "$WORK"
    mkdir -p "$WORK/src" "$out"
    cp "$DIR/app.py" "$WORK/src/"
    # The example's world with its WASI dependencies, and the contract beside them.
    cp -r "$DIR/wit" "$WORK/wit"
    mkdir -p "$WORK/wit/deps/wasmcron-job"
    cp "$WIT_DIR/job.wit" "$WORK/wit/deps/wasmcron-job/"
    "$COMPONENTIZE_PY" --quiet -d "$WORK/wit" -w job-with-http componentize -p "$WORK/src" app \
        -o "$out/$PLUGIN.wasm"
    echo "plugin $out/$PLUGIN.wasm (Python, $(stat -c %s "$out/$PLUGIN.wasm") bytes, $(elapsed "$start") s)"
    ;;
*)
    echo "usage: $0 install | build <out-dir>" >&2
    exit 2
    ;;
esac

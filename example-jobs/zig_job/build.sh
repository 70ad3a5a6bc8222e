#!/usr/bin/env bash
# The Zig example (plugin wasmcron.examples.zig): Zig (PyPI's `ziglang`, in the shared venv)
# compiles main.zig together with the C bindings `guest-tools bindgen c` generates from
# wit/job.wit, and `guest-tools component` wraps the core module into a component.
# Usage: see ../lib.sh.
source "$(dirname "$0")/../lib.sh"

PLUGIN=wasmcron.examples.zig
VERSION=0.17.1
DIR="$ROOT/example-jobs/zig_job"
WORK="$ROOT/target/guests/zig_job"
# Zig caches compiled code (its wasi-libc too) in these; keep them out of $HOME.
export ZIG_GLOBAL_CACHE_DIR="$TOOLCHAINS/zig-cache/global"
export ZIG_LOCAL_CACHE_DIR="$TOOLCHAINS/zig-cache/local"

zig() {
    "$VENV/bin/python" -m ziglang "$@"
}

have_toolchain() {
    [ -x "$VENV/bin/python" ] && [ "$(zig version 2>/dev/null)" = "$VERSION" ]
}

case "${1:-}" in
install)
    have_toolchain || venv_install "ziglang==$VERSION"
    ;;
build)
    out="${2:?usage: build.sh build <out-dir>}"
    have_toolchain || skip "Zig: not installed (example-jobs/zig_job/build.sh install)"
    start=$(now)
    tools="$(guest_tools)"
    rm -rf "$WORK/gen"
    mkdir -p "$WORK/gen" "$out"
    "$tools" bindgen c "$WIT_DIR" "$WORK/gen"
    zig build-exe "$DIR/main.zig" "$WORK/gen/job.c" "$WORK/gen/job_component_type.o" \
        -I"$WORK/gen" -lc -target wasm32-wasi -mexec-model=reactor -fno-entry -rdynamic \
        -O ReleaseSmall -fstrip --stack 131072 --name "$PLUGIN.core" -femit-bin="$WORK/$PLUGIN.core.wasm"
    "$tools" component "$WORK/$PLUGIN.core.wasm" -o "$out/$PLUGIN.wasm"
    echo "plugin $out/$PLUGIN.wasm (Zig, $(stat -c %s "$out/$PLUGIN.wasm") bytes, $(elapsed "$start") s)"
    ;;
*)
    echo "usage: $0 install | build <out-dir>" >&2
    exit 2
    ;;
esac

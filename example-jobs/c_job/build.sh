#!/usr/bin/env bash
# The C example (plugin wasmcron.examples.c): clang for wasm32-wasi compiles main.c with
# the bindings `guest-tools bindgen c` generates from wit/job.wit, and `guest-tools
# component` wraps the core module into a component. Usage: see ../lib.sh.
source "$(dirname "$0")/../lib.sh"

PLUGIN=wasmcron.examples.c
DIR="$ROOT/example-jobs/c_job"
WORK="$ROOT/target/guests/c_job"
PACKAGES="clang lld wasi-libc libclang-rt-14-dev-wasm32"

# clang can build for wasm32-wasi (compiler, linker, libc and compiler runtime present).
have_toolchain() {
    command -v clang >/dev/null 2>&1 &&
        printf 'int main(void){return 0;}' | clang --target=wasm32-wasi -x c -o /dev/null - >/dev/null 2>&1
}

case "${1:-}" in
install)
    have_toolchain && exit 0
    # The C toolchain comes from the system's packages, not from target/toolchains.
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $PACKAGES >/dev/null
        have_toolchain || { echo "clang still cannot build for wasm32-wasi" >&2; exit 1; }
    else
        # Not ours to install: say what is missing, and let the other languages go on.
        echo "the C example needs clang for wasm32-wasi; on Debian or Ubuntu run:" >&2
        echo "  sudo apt-get install $PACKAGES" >&2
        skip "C: no clang for wasm32-wasi"
    fi
    ;;
build)
    out="${2:?usage: build.sh build <out-dir>}"
    have_toolchain || skip "C: no clang for wasm32-wasi (example-jobs/c_job/build.sh install)"
    start=$(now)
    tools="$(guest_tools)"
    rm -rf "$WORK/gen"
    mkdir -p "$WORK/gen" "$out"
    "$tools" bindgen c "$WIT_DIR" "$WORK/gen"
    clang --target=wasm32-wasi -mexec-model=reactor -O2 -s -Wall -Wextra -Werror \
        -I"$WORK/gen" -o "$WORK/$PLUGIN.core.wasm" \
        "$DIR/main.c" "$WORK/gen/job.c" "$WORK/gen/job_component_type.o"
    "$tools" component "$WORK/$PLUGIN.core.wasm" -o "$out/$PLUGIN.wasm"
    echo "plugin $out/$PLUGIN.wasm (C, $(stat -c %s "$out/$PLUGIN.wasm") bytes, $(elapsed "$start") s)"
    ;;
*)
    echo "usage: $0 install | build <out-dir>" >&2
    exit 2
    ;;
esac

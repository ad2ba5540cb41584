#!/usr/bin/env bash
# The README's quick-start commands, for a Debian 12 (or Ubuntu 22.04+) machine with Rust:
#
#   packaging/quickstart.sh demo    install what playhead needs, build it, play the demo show
#   packaging/quickstart.sh test    install what the tests need, run every check and test
#   packaging/quickstart.sh deb     install cargo-deb & co, build the .deb into target/debian/
#
# Extra arguments after "demo" go to playhead (e.g. --windowed). Uses sudo when not root.
set -euo pipefail
cd "$(dirname "$0")/.."

# What building and running playhead needs.
# cmake, g++ and libclang-dev build Ableton Link's C++ (rusty_link), in every build.
BUILD_DEPS=(pkg-config libmpv-dev libasound2-dev libxkbcommon-x11-0 cmake g++ libclang-dev)
# What the tests add: a virtual X desktop with a window manager, screenshots, key presses,
# and a JACK server with its headers (OS MIDI ports are tested through midir's JACK backend,
# since CI machines have no ALSA sequencer).
# iproute2 brings up loopback in the network namespace where the mDNS test runs.
# x11-xserver-utils (xset, xrandr) and dbus-daemon: the screen-blanking and re-plug tests
# (tests/kiosk.rs) drive the X screensaver and RandR, and run a private session bus.
# tests/link.rs runs Ableton Link against PyPI's aalink (tests/peers/requirements.txt).
# chromium: the remote status page is tested in a real browser (tests/remote_browser.rs,
# driven by npm playwright-core); liblo-tools: oscsend and oscdump, the OSC client of
# tests/osc.rs. Xorg with the dummy video driver and openbox: a desktop of several monitors
# (tests/outputs.rs; Xvfb has one RandR monitor). jack-midi-clock: x42's JACK transport as MIDI
# clock, the DAW of `playhead-bench --jack` (its smoke run in tests/kit/tests/bench_smoke.rs).
TEST_DEPS=(xvfb matchbox-window-manager imagemagick xdotool ffmpeg jackd2 libjack-jackd2-dev iproute2
    x11-xserver-utils dbus-daemon weston chromium liblo-tools
    xserver-xorg-core xserver-xorg-video-dummy openbox jack-midi-clock)

# What building the .deb needs (packaging/build-deb.sh), and what testing it adds
# (packaging/test-deb.sh: a Debian 12 root to install it in, lintian, a display, ps).
DEB_DEPS=(dpkg-dev python3)
DEB_TEST_DEPS=(debootstrap lintian xvfb procps)

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

# The third-party peers of the interop tests: npm's rtpmidi (and playwright-core, which
# drives Debian's chromium for the remote page's test) into
# tests/peers/node_modules, PyPI's pymidi into a virtual environment under target/ (Debian's
# Python refuses system-wide pip installs). Node and venv come from Debian only when missing.
install_test_peers() {
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        install_debs nodejs npm
    fi
    if [ ! -d tests/peers/node_modules/rtpmidi ] || [ ! -d tests/peers/node_modules/playwright-core ]; then
        echo "quickstart: installing the npm test peer (tests/peers)"
        # Versions pinned by package-lock.json. Its optional dependencies are left out: one is
        # a git URL 'npm ci' cannot take, and both are mDNS add-ons the tests must not load.
        (cd tests/peers && npm install --omit=optional --no-audit --no-fund --loglevel=error)
    fi
    if ! command -v python3 >/dev/null || ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
        install_debs python3 python3-venv
    fi
    if [ ! -x target/peers-venv/bin/python ]; then
        echo "quickstart: making target/peers-venv for the PyPI test peer"
        rm -rf target/peers-venv
        python3 -m venv target/peers-venv
    fi
    target/peers-venv/bin/python -m pip install -q --disable-pip-version-check -r tests/peers/requirements.txt
}

install_cargo_deb() {
    if ! command -v cargo-deb >/dev/null; then
        echo "quickstart: installing cargo-deb"
        cargo install cargo-deb --locked --version 3.8.0
    fi
}

need_cargo() {
    if ! command -v cargo >/dev/null; then
        echo "quickstart: cargo not found; install Rust first: https://rustup.rs" >&2
        exit 1
    fi
}

# `step CMD...`: runs one step of the test command, its output to the terminal and to $LOG,
# and counts its tests. A step that fails without a failed test (fmt, clippy, a build error,
# the package test) counts as one failure.
FAILED_STEPS=()
PASSED=0
FAILED=0
step() {
    local t0=$SECONDS out=target/quickstart-step.log passed failed
    echo "quickstart: == $*" | tee -a "$LOG"
    local ok=1
    "$@" 2>&1 | tee "$out" || ok=0
    cat "$out" >>"$LOG"
    passed=$(sed -n 's/^test result: .* \([0-9][0-9]*\) passed; .*/\1/p' "$out" | awk '{s+=$1} END {print s+0}')
    failed=$(sed -n 's/^test result: .* passed; \([0-9][0-9]*\) failed;.*/\1/p' "$out" | awk '{s+=$1} END {print s+0}')
    PASSED=$((PASSED + passed))
    if [ "$ok" -eq 1 ]; then
        echo "quickstart: ok in $((SECONDS - t0)) s: $*" | tee -a "$LOG"
    else
        echo "quickstart: FAILED in $((SECONDS - t0)) s: $*" | tee -a "$LOG"
        FAILED_STEPS+=("$*")
        if [ "$failed" -eq 0 ]; then failed=1; fi
    fi
    FAILED=$((FAILED + failed))
}

# `summary SECONDS`: how long it took, what failed, and one closing line counting every test.
summary() {
    echo
    echo "quickstart: the test command took $(($1 / 60)) min $(($1 % 60)) s"
    if [ "${#FAILED_STEPS[@]}" -gt 0 ]; then
        echo "quickstart: failed steps:"
        printf '  %s\n' "${FAILED_STEPS[@]}"
        echo "quickstart: failed tests:"
        grep -E '^test .* \.\.\. FAILED$' "$LOG" | sed 's/^test /  /; s/ \.\.\. FAILED$//' | sort -u || true
        echo "summary: $PASSED passed, $FAILED failed"
        exit 1
    fi
    echo "summary: $PASSED passed, 0 failed"
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
        install_test_peers
        if command -v rustup >/dev/null; then rustup component add rustfmt clippy >/dev/null 2>&1 || true; fi
        install_debs "${DEB_DEPS[@]}" "${DEB_TEST_DEPS[@]}"
        install_cargo_deb
        # Every step runs, whatever an earlier one said, and every test binary runs
        # (--no-fail-fast): one failure must not hide another. The summary at the end names
        # each failed step and test.
        mkdir -p target
        LOG=target/quickstart-test.log
        : >"$LOG"
        began=$SECONDS
        step cargo fmt --all -- --check
        step cargo clippy --workspace --all-targets -- -D warnings
        step cargo test --workspace --no-fail-fast
        step cargo test --no-fail-fast --features jack --lib --test os_ports --test ltc_jack --test mmc_os_port --test rigs_os_port
        step cargo clippy --all-targets --features jack -- -D warnings
        # The JACK case of playhead-bench (the program just built with JACK by the step above).
        step cargo test --no-fail-fast -p playhead-testkit --features jack --test bench_smoke the_jack_bench_runs
        step cargo clippy -p playhead-testkit --all-targets --features jack -- -D warnings
        step bash packaging/test-deb.sh
        summary $((SECONDS - began))
        ;;
    deb)
        need_cargo
        install_debs "${BUILD_DEPS[@]}" "${DEB_DEPS[@]}"
        install_cargo_deb
        bash packaging/build-deb.sh
        ;;
    *)
        echo "usage: $0 demo [playhead options] | test | deb" >&2
        exit 2
        ;;
esac

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# The .deb, tested as a technician would use it:
#   1. build it (packaging/build-deb.sh) and check it with lintian (tags left on purpose are
#      overridden, with the reason, in packaging/lintian-overrides);
#   2. install it with apt into a clean Debian 12 root made by debootstrap, without
#      Recommends, so that Depends alone must bring everything;
#   3. there: `playhead --version`, every library the program links or loads at run time is
#      found, `playhead --check` on the bundled demo show, and the demo played in a window on
#      a virtual X display until it is armed on its first frame; killed with SIGKILL under the
#      autostart entry's restart loop, it is armed again within 2 s;
#   4. `systemd-analyze --user verify` on the user unit as installed.
#
#   packaging/test-deb.sh
#
# Needs root for the chroot (uses sudo otherwise), debootstrap, lintian, Xvfb, systemd and
# what build-deb.sh needs: `packaging/quickstart.sh test` installs them all and runs this last.
# The freshly bootstrapped root is kept as target/deb-test/bookworm-minbase.tar (made again
# when a month old) and unpacked anew for every run. DEBIAN_MIRROR and DEBIAN_SECURITY_MIRROR
# choose the mirrors (default: deb.debian.org).
set -euo pipefail
cd "$(dirname "$0")/.."

started_s=$SECONDS
SUDO=()
[ "$(id -u)" -eq 0 ] || SUDO=(sudo)
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
security_mirror="${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
work="$(pwd -P)/target/deb-test"
cache="$work/bookworm-minbase.tar"
root="$work/root"
passed=0

step() { echo "test-deb: $*"; }
ok() {
    passed=$((passed + 1))
    echo "test-deb: ok: $*"
}
fail() {
    echo "test-deb: FAILED: $*" >&2
    echo "test-deb: $passed passed, 1 failed" >&2
    exit 1
}
in_root() { "${SUDO[@]}" chroot "$root" "$@"; }

xvfb_pid=
cleanup() {
    [ -n "$xvfb_pid" ] && kill "$xvfb_pid" 2>/dev/null
    for m in "$root/tmp/.X11-unix" "$root/proc"; do
        if mountpoint -q "$m" 2>/dev/null; then "${SUDO[@]}" umount "$m" || true; fi
    done
    if [ -d "$root" ] && ! grep -q " $root/" /proc/mounts; then "${SUDO[@]}" rm -rf "$root"; fi
}
trap cleanup EXIT

# 1. Build and lintian.
step "building the .deb"
deb="$(packaging/build-deb.sh | tail -n 1)"
[ -f "$deb" ] || fail "packaging/build-deb.sh made no package"
ok "built $deb ($(du -h "$deb" | cut -f1))"
step "lintian"
# Info tags count too: each tag the package keeps is overridden with its reason.
if ! report="$(lintian --fail-on error,warning,info --display-info --info "$deb" 2>&1)"; then
    echo "$report" | grep -v 'running with root privileges' >&2
    fail "lintian found tags (above); fix them or override them with a reason in packaging/lintian-overrides"
fi
ok "lintian: no tags but the overridden ones"

# 2. A clean Debian 12 root.
mkdir -p "$work"
if [ -f "$cache" ] && [ -n "$(find "$cache" -mtime +30)" ]; then rm -f "$cache"; fi
if [ ! -f "$cache" ]; then
    step "debootstrap bookworm (minbase) from $mirror"
    "${SUDO[@]}" rm -rf "$work/bootstrap"
    t0=$SECONDS
    "${SUDO[@]}" debootstrap --variant=minbase bookworm "$work/bootstrap" "$mirror" \
        >"$work/debootstrap.log" 2>&1 || {
        tail -n 20 "$work/debootstrap.log" >&2
        fail "debootstrap (log: $work/debootstrap.log)"
    }
    "${SUDO[@]}" tar -C "$work/bootstrap" -cf "$cache.part" .
    "${SUDO[@]}" mv "$cache.part" "$cache"
    "${SUDO[@]}" rm -rf "$work/bootstrap"
    step "debootstrap took $((SECONDS - t0)) s; root kept in $cache"
fi
cleanup
"${SUDO[@]}" mkdir -p "$root"
"${SUDO[@]}" tar -C "$root" -xf "$cache"
"${SUDO[@]}" tee "$root/etc/apt/sources.list" >/dev/null <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security_mirror bookworm-security main
EOF
"${SUDO[@]}" cp /etc/resolv.conf "$root/etc/resolv.conf"
"${SUDO[@]}" mount -t proc proc "$root/proc"
"${SUDO[@]}" cp "$deb" "$root/tmp/playhead.deb"

step "apt-get install ./playhead.deb in the clean root"
t0=$SECONDS
in_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq ||
    fail "apt-get update in the root"
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    /tmp/playhead.deb >"$work/install.log" 2>&1 || {
    tail -n 30 "$work/install.log" >&2
    fail "apt-get install of the .deb (log: $work/install.log)"
}
ok "installed with its Depends only, in $((SECONDS - t0)) s"

# 3. The program in the root.
version="$(in_root playhead --version)" || fail "playhead --version"
[[ "$version" == "playhead "* ]] || fail "playhead --version printed '$version'"
ok "playhead --version: $version"

missing="$(in_root ldd /usr/bin/playhead | grep 'not found' || true)"
[ -z "$missing" ] || fail "libraries the program links are missing: $missing"
# What winit and glutin open with dlopen (no linker, so no $auto, sees them): keyboard, X11,
# Wayland and EGL. libxkbcommon-x11 is in Depends by name; the rest comes with libmpv2.
libraries="$(in_root ldconfig -p)"
for soname in libxkbcommon-x11.so.0 libxkbcommon.so.0 libX11.so.6 libX11-xcb.so.1 \
    libXcursor.so.1 libXi.so.6 libxcb.so.1 libEGL.so.1 libwayland-client.so.0 \
    libwayland-egl.so.1 libwayland-cursor.so.0; do
    grep -q "^[[:space:]]*$soname " <<<"$libraries" ||
        fail "$soname, which playhead loads at run time, is not installed by the package's Depends"
done
ok "every library playhead links or loads is installed"

# A display for --check and the window: a virtual X server on the host, its socket shared
# with the root. Every desktop has a GL driver; the minimal root gets Mesa's software one.
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    libgl1-mesa-dri >>"$work/install.log" 2>&1 || fail "installing Mesa in the root"
display_number=$((200 + RANDOM % 300))
while [ -e "/tmp/.X$display_number-lock" ]; do display_number=$((display_number + 1)); done
Xvfb ":$display_number" -screen 0 1280x720x24 -nolisten tcp >/dev/null 2>&1 &
xvfb_pid=$!
for _ in $(seq 100); do
    [ -S "/tmp/.X11-unix/X$display_number" ] && break
    sleep 0.05
done
[ -S "/tmp/.X11-unix/X$display_number" ] || fail "Xvfb did not start"
"${SUDO[@]}" mkdir -p "$root/tmp/.X11-unix"
"${SUDO[@]}" mount --bind /tmp/.X11-unix "$root/tmp/.X11-unix"

step "playhead --check /usr/share/playhead/demo.mp4"
in_root env DISPLAY=":$display_number" playhead --check /usr/share/playhead/demo.mp4 ||
    fail "playhead --check on the bundled demo show"
ok "playhead --check on the bundled demo show"

step "playhead --windowed on the demo show until armed"
log="$work/window.log"
set +e
# --no-rtp: the root shares the host's network, and network MIDI would advertise itself on it.
in_root env DISPLAY=":$display_number" RUST_LOG=info timeout 20 \
    playhead --windowed --no-rtp /usr/share/playhead/demo.mp4 >"$log" 2>&1 &
player_pid=$!
armed=
for _ in $(seq 200); do
    if grep -q "armed:" "$log"; then armed=yes; break; fi
    kill -0 "$player_pid" 2>/dev/null || break
    sleep 0.1
done
kill -TERM "$player_pid" 2>/dev/null
wait "$player_pid" 2>/dev/null
set -e
[ -n "$armed" ] || {
    cat "$log" >&2
    fail "the installed playhead did not arm the demo show in a window"
}
ok "the installed playhead armed the demo show in a window: $(grep -o 'armed:.*' "$log" | head -n 1)"

# Crash recovery, through the autostart entry's loop (the systemd unit restarts after the same
# 0.5 s): playhead killed outright (SIGKILL, a crash it cannot catch) must be back, armed on
# frame 0, within 2 s.
step "crash recovery: /usr/libexec/playhead/playhead-kiosk"
log="$work/kiosk.log"
armed_count() { grep -c "armed:" "$log" || true; }
# The playhead process the loop runs: a descendant of the loop's process named playhead.
playhead_under() {
    local pid
    for pid in $(ps -o pid= --ppid "$1"); do
        if [ "$(ps -o comm= -p "$pid")" = playhead ]; then echo "$pid"; else playhead_under "$pid"; fi
    done
}
in_root env DISPLAY=":$display_number" RUST_LOG=info \
    /usr/libexec/playhead/playhead-kiosk --no-rtp /usr/share/playhead/demo.mp4 >"$log" 2>&1 &
kiosk_pid=$!
for _ in $(seq 200); do
    [ "$(armed_count)" -ge 1 ] && break
    sleep 0.05
done
[ "$(armed_count)" -ge 1 ] || { cat "$log" >&2; fail "playhead-kiosk did not start playhead"; }
first_pid="$(playhead_under "$kiosk_pid")"
[ -n "$first_pid" ] || fail "found no playhead process under playhead-kiosk"
crashed_ns=$(date +%s%N)
"${SUDO[@]}" kill -KILL "$first_pid"
back_ms=
for _ in $(seq 400); do
    if [ "$(armed_count)" -ge 2 ]; then
        back_ms=$((($(date +%s%N) - crashed_ns) / 1000000))
        break
    fi
    sleep 0.01
done
second_pid="$(playhead_under "$kiosk_pid")"
"${SUDO[@]}" kill -TERM "$kiosk_pid" 2>/dev/null || true
[ -n "$second_pid" ] && { "${SUDO[@]}" kill -TERM "$second_pid" 2>/dev/null || true; }
wait "$kiosk_pid" 2>/dev/null || true
[ -n "$back_ms" ] || { cat "$log" >&2; fail "playhead did not come back after a crash"; }
[ "$back_ms" -le 2000 ] || fail "playhead came back after a crash in $back_ms ms (2000 ms allowed)"
ok "killed with SIGKILL, playhead was armed on frame 0 again $back_ms ms later"

# 4. The user unit as installed, checked by the root's own systemd as a user manager would
# load it, with the program it starts and the man page it names (man-db) in place.
step "systemd-analyze --user verify"
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    systemd man-db >>"$work/install.log" 2>&1 || fail "installing systemd in the root"
in_root mkdir -p /run/user/0
in_root env XDG_RUNTIME_DIR=/run/user/0 systemd-analyze --user verify \
    /usr/lib/systemd/user/playhead.service ||
    fail "systemd-analyze verify on /usr/lib/systemd/user/playhead.service"
ok "systemd-analyze --user verify playhead.service"

step "took $((SECONDS - started_s)) s"
echo "test-deb: $passed passed, 0 failed"

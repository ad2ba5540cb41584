#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""How long a show is without its picture when a thread of playhead fails, and how fast a
SIGTERM ends it, for the README's figures.

    cargo build --release && python3 packaging/measure-restart.py [--runs 10]

Method, per run, with the release binary headless on the demo show (`--headless --no-rtp`):
  - fault: PLAYHEAD_INJECT_FAULT=player-panic (or player-hang) makes the player thread fail
    once armed; timed from its "failing this thread on purpose" log line to the process's
    exit (the watchdog's detection), then playhead is started again after the systemd unit's
    RestartSec (200 ms, slept here) and timed to its "armed:" line. The figure is fault ->
    armed again, restart delay included.
  - SIGTERM: a playhead armed with network MIDI on a free port is sent SIGTERM; timed from
    the signal to the process's exit, whose status must be 0.
"""

import argparse
import os
import pathlib
import signal
import statistics
import subprocess
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESTART_DELAY_S = 0.2


class Run:
    """playhead with its log lines stamped as they arrive."""

    def __init__(self, exe, args, env=None):
        full_env = dict(os.environ, RUST_LOG="info")
        full_env.pop("WAYLAND_DISPLAY", None)
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            [exe, *args], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True, env=full_env)
        self.lines = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stderr:
            with self.cond:
                self.lines.append((time.monotonic(), line.rstrip()))
                self.cond.notify_all()

    def wait_line(self, needle, timeout_s=30.0):
        deadline = time.monotonic() + timeout_s
        with self.cond:
            while True:
                for at, line in self.lines:
                    if needle in line:
                        return at
                if time.monotonic() > deadline:
                    raise SystemExit(f"no '{needle}' line:\n" + "\n".join(l for _, l in self.lines))
                self.cond.wait(0.05)


def fault_run(exe, fault):
    demo = str(ROOT / "media/demo.mp4")
    run = Run(exe, ["--headless", "--no-rtp", demo], {"PLAYHEAD_INJECT_FAULT": fault})
    fault_at = run.wait_line("failing this thread on purpose")
    status = run.proc.wait(timeout=30)
    exited = time.monotonic()
    assert status == 70, f"exit status {status}"
    time.sleep(RESTART_DELAY_S)
    again = Run(exe, ["--headless", "--no-rtp", demo])
    armed = again.wait_line("armed:")
    again.proc.send_signal(signal.SIGTERM)
    again.proc.wait(timeout=10)
    return (exited - fault_at) * 1e3, (armed - fault_at) * 1e3


def sigterm_run(exe):
    demo = str(ROOT / "media/demo.mp4")
    run = Run(exe, ["--headless", "--no-mdns", "--rtp-port", "0", demo])
    run.wait_line("armed:")
    sent = time.monotonic()
    run.proc.send_signal(signal.SIGTERM)
    status = run.proc.wait(timeout=10)
    assert status == 0, f"exit status {status}"
    return (time.monotonic() - sent) * 1e3


def summary(name, values):
    values = sorted(values)
    p50 = statistics.median(values)
    print(f"{name:<52} n={len(values):<3} p50={p50:7.0f} ms  max={values[-1]:7.0f} ms")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--exe", default=str(ROOT / "target/release/playhead"))
    args = parser.parse_args()
    for fault in ("player-panic", "player-hang"):
        detected, back = zip(*(fault_run(args.exe, fault) for _ in range(args.runs)))
        summary(f"{fault}: fault -> playhead exits", detected)
        summary(f"{fault}: fault -> armed again (with 200 ms restart)", back)
    summary("SIGTERM -> exit status 0", [sigterm_run(args.exe) for _ in range(args.runs)])


if __name__ == "__main__":
    main()

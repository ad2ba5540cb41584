#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Start-up and idle cost of playhead, for the README's figures.

    cargo build --release && python3 packaging/measure.py [--starts 20] [--idle-s 10]
    python3 packaging/measure.py --exe /usr/bin/playhead    # the installed program

For the demo show and a 1080p H.264 file (made once with ffmpeg: 30 s of testsrc2,
1920x1080, 25 fps, CRF 23, a keyframe every 2 s, in target/measure/), in two set-ups:
  - window: the real program fullscreen on a virtual X display (Xvfb and a window manager,
    so OpenGL is Mesa's software renderer: a laptop's GPU does the drawing part faster);
  - headless: `--headless`, mpv's software renderer into memory at 640x360, no display.
Measured:
  - cold start to armed: from spawning the process to its "armed:" log line (the first
    frame drawn, waiting for the DAW), over --starts runs (the files are in the page cache);
  - idle while armed: CPU time the process used over --idle-s seconds while it sat armed on
    frame 0 (percent of one core), and its resident memory (VmRSS) at the end. Measured from
    --settle-s after arming: 2 s after start playhead times a few locates in the video (once,
    in an mpv core of its own), which is start-up work, not idling.
Needs Xvfb and matchbox-window-manager (packaging/quickstart.sh test installs them) and ffmpeg.
"""

import argparse
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "target" / "measure"
EXE = ROOT / "target" / "release" / "playhead"  # --exe changes it
CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def make_1080p():
    """A 30 s 1920x1080 H.264 file like a show's: CRF 23, a keyframe every 2 s."""
    path = OUT / "testsrc2-1080p-h264.mp4"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        part = path.with_suffix(".part.mp4")
        subprocess.run(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
             "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=25:duration=30",
             "-c:v", "libx264", "-preset", "medium", "-crf", "23",
             "-g", "50", "-keyint_min", "50", "-sc_threshold", "0",
             "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(part)],
            check=True,
        )
        part.rename(path)
    return path


class Desktop:
    """Xvfb with a window manager, so that fullscreen works as on a show machine."""

    def __init__(self):
        for tool in ("Xvfb", "matchbox-window-manager"):
            if not shutil.which(tool):
                sys.exit(f"measure: '{tool}' is missing; packaging/quickstart.sh test installs it")
        number = 350 + os.getpid() % 200
        while pathlib.Path(f"/tmp/.X{number}-lock").exists():
            number += 1
        self.display = f":{number}"
        self.xvfb = subprocess.Popen(
            ["Xvfb", self.display, "-screen", "0", "1920x1080x24", "-nolisten", "tcp"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        socket = pathlib.Path(f"/tmp/.X11-unix/X{number}")
        deadline = time.monotonic() + 10
        while not socket.exists():
            if time.monotonic() > deadline or self.xvfb.poll() is not None:
                sys.exit("measure: Xvfb did not start")
            time.sleep(0.02)
        self.wm = subprocess.Popen(
            ["matchbox-window-manager", "-use_titlebar", "no", "-use_cursor", "no"],
            env={**os.environ, "DISPLAY": self.display},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)

    def close(self):
        for proc in (self.wm, self.xvfb):
            proc.terminate()
            proc.wait()


def network_off_flag():
    """Network MIDI would need UDP 5004 free for every run; start-up is measured without it."""
    help_text = subprocess.run([str(EXE), "--help"], capture_output=True, text=True).stdout
    return ["--no-rtp"] if "--no-rtp" in help_text else []


def start_armed(video, display):
    """Spawns playhead on the video; returns (process, seconds from spawn to armed)."""
    args = [str(EXE), *network_off_flag(), str(video)]
    env = {**os.environ, "RUST_LOG": "info"}
    if display is None:
        args.insert(1, "--headless")
    else:
        env["DISPLAY"] = display
        env.pop("WAYLAND_DISPLAY", None)
    spawned = time.monotonic()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    for line in proc.stderr:
        if "armed:" in line:
            armed_s = time.monotonic() - spawned
            # Keep reading the log so that the process never waits on a full pipe.
            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
            return proc, armed_s
    proc.wait()
    sys.exit(f"measure: playhead exited ({proc.returncode}) before it was armed: {' '.join(args)}")


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def cpu_s(pid):
    """User + system CPU time of the process (all its threads) so far, in seconds."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS_PER_S


def rss_mib(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values, p):
    ordered = sorted(values)
    rank = max(1, min(len(ordered), -(-len(ordered) * p // 100)))
    return ordered[int(rank) - 1]


def measure(video, display, starts, settle_s, idle_s):
    times_ms = []
    for _ in range(starts):
        proc, armed_s = start_armed(video, display)
        times_ms.append(armed_s * 1000)
        stop(proc)
    proc, _ = start_armed(video, display)
    time.sleep(settle_s)
    cpu_before, t_before = cpu_s(proc.pid), time.monotonic()
    time.sleep(idle_s)
    cpu_after, t_after = cpu_s(proc.pid), time.monotonic()
    rss = rss_mib(proc.pid)
    stop(proc)
    idle_percent = 100 * (cpu_after - cpu_before) / (t_after - t_before)
    return times_ms, idle_percent, rss


def main():
    global EXE
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--starts", type=int, default=20, help="cold starts per case")
    parser.add_argument("--settle-s", type=float, default=5,
                        help="seconds after arming before idle is measured")
    parser.add_argument("--idle-s", type=float, default=10, help="seconds of idle measured")
    parser.add_argument("--exe", type=pathlib.Path, default=EXE, help="the program to measure")
    args = parser.parse_args()
    EXE = args.exe.resolve()
    if not EXE.exists():
        sys.exit(f"measure: {EXE} does not exist: build it first (cargo build --release)")
    videos = [("demo show (640x360 H.264)", ROOT / "media" / "demo.mp4"),
              ("1080p H.264 (CRF 23, GOP 2 s)", make_1080p())]
    desktop = Desktop()
    try:
        print(f"{args.starts} cold starts per case, idle over {args.idle_s:g} s from "
              f"{args.settle_s:g} s after arming, {os.cpu_count()} cores\n")
        print("| video | set-up | start to armed p50 | p90 | max | idle CPU (one core) | RSS |")
        print("|---|---|---|---|---|---|---|")
        for name, video in videos:
            for setup, display in (("window (Xvfb, software GL)", desktop.display),
                                   ("headless", None)):
                times_ms, idle_percent, rss = measure(video, display, args.starts,
                                                      args.settle_s, args.idle_s)
                print(f"| {name} | {setup} | {percentile(times_ms, 50):.0f} ms "
                      f"| {percentile(times_ms, 90):.0f} ms | {max(times_ms):.0f} ms "
                      f"| {idle_percent:.1f} % | {rss:.0f} MiB |", flush=True)
    finally:
        desktop.close()


if __name__ == "__main__":
    main()

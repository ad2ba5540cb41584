"""An Ableton Link peer for tests/link.rs (PyPI aalink): waits for a peer, starts the
session with start/stop sync at BPM, prints where the quantized launch is on Link's clock,
plays for PLAY_S seconds and stops, printing when on Link's clock.

Usage: link-peer.py BPM QUANTUM PLAY_S
"""

import asyncio
import sys

from aalink import Link


async def main():
    bpm, quantum, play_s = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
    link = Link(bpm)
    link.quantum = quantum
    link.start_stop_sync_enabled = True
    link.enabled = True
    while link.num_peers < 1:
        await asyncio.sleep(0.02)
    print("joined", flush=True)
    await asyncio.sleep(1.0)
    now = link.time
    # Beat 0 goes to the next bar line: the launch, when a DAW's audio would start.
    link.set_is_playing_and_request_beat_at_time(True, now, 0.0)
    beat = link.beat
    at = link.time
    start_us = at.total_seconds() * 1e6 - beat * 60e6 / link.tempo
    print(f"start {start_us:.0f} tempo {link.tempo:.3f}", flush=True)
    await asyncio.sleep(play_s)
    link.playing = False
    print(f"stopped {link.time.total_seconds() * 1e6:.0f}", flush=True)
    await asyncio.sleep(1.0)


asyncio.run(main())

"""A network-MIDI session served by the PyPI package `pymidi`, for playhead's interop tests:
playhead invites it. Prints one line per event on stdout (connected NAME, disconnected NAME,
midi COMMANDS). Usage: python pymidi-server.py PORT (binds 127.0.0.1 only)."""

import logging
import sys

from pymidi import server


class Report(server.Handler):
    def on_peer_connected(self, peer):
        print("connected", peer.name, flush=True)

    def on_peer_disconnected(self, peer):
        print("disconnected", peer.name, flush=True)

    def on_midi_commands(self, peer, command_list):
        print("midi", " ".join(c.command for c in command_list), flush=True)


def main():
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    srv = server.Server([("127.0.0.1", int(sys.argv[1]))])
    srv.add_handler(Report())
    print("listening", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()

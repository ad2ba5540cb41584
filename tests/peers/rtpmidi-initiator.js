// A DAW machine's network-MIDI session, played by the npm package `rtpmidi`, for playhead's
// interop tests. It invites playhead and then follows commands on stdin, one per line:
//
//   send f2 00 00, fa   send MIDI messages (hex bytes, messages separated by commas) in one packet
//   leave               say goodbye (BY)
//   join                invite again
//   quit                end the session and exit
//
// It prints what happens on stdout, one word first: connected, synced, sent, left, error.
// Usage: node rtpmidi-initiator.js OWN_PORT TARGET_HOST TARGET_PORT NAME
'use strict';

const readline = require('readline');
const { Session } = require('rtpmidi');

const [ownPort, host, targetPort, name] = process.argv.slice(2);
const say = (line) => process.stdout.write(`${line}\n`);

// Not published: the package's mDNS support is optional and the tests must not multicast.
const session = new Session(Number(ownPort), name, name, undefined, false, 4);
let stream = null;

session.on('streamAdded', (event) => {
  ({ stream } = event);
  say(`connected ${stream.name}`);
  // The package sends MIDI only once its clock synchronisation has measured the latency.
  const poll = setInterval(() => {
    if (stream && stream.latency !== null && stream.timeDifference !== null) {
      clearInterval(poll);
      say('synced');
    }
  }, 20);
});
session.on('error', (e) => say(`error ${e.message}`));
session.on('ready', () => {
  session.connect({ address: host, port: Number(targetPort) });
});
session.start();

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const [command, ...rest] = line.trim().split(' ');
  if (command === 'send') {
    const commands = rest.join(' ').split(',').map((m) => ({
      deltaTime: 0,
      data: Buffer.from(m.trim().split(/\s+/).map((h) => parseInt(h, 16))),
    }));
    // Session.sendMessage throws in this version; the stream's own sendMessage works.
    stream.sendMessage({ timestamp: session.now(), commands });
    say('sent');
  } else if (command === 'leave') {
    stream.end(() => say('left'));
  } else if (command === 'join') {
    stream = null;
    session.connect({ address: host, port: Number(targetPort) });
  } else if (command === 'quit') {
    session.end(() => process.exit(0));
    setTimeout(() => process.exit(0), 500);
  }
});

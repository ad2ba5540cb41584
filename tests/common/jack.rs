//! A JACK server of the test's own (the dummy driver: no sound card), stopped when dropped.

use super::Playhead;
use midir::os::unix::VirtualOutput;
use midir::{MidiOutput, MidiOutputConnection};
use std::time::{Duration, Instant};

/// A `jackd -d dummy` named `name`, made the default server of this test process.
pub struct Jack(#[allow(dead_code)] playhead_testkit::jackd::JackServer);

impl Jack {
    /// Starts the server and waits until a client can connect to it.
    pub fn start(name: &str) -> Jack {
        Jack(
            playhead_testkit::jackd::JackServer::start(name)
                .expect("a JACK server of the test's own"),
        )
    }
}

/// A DAW's MIDI output port `client:port` on the test's JACK server.
pub fn daw_port(client: &str, port: &str) -> MidiOutputConnection {
    MidiOutput::new(client)
        .unwrap()
        .create_virtual(port)
        .expect("create a JACK MIDI output port")
}

/// How many log lines contain `needle`.
pub fn count(ph: &Playhead, needle: &str) -> usize {
    ph.log().iter().filter(|l| l.contains(needle)).count()
}

pub fn wait_count(ph: &Playhead, needle: &str, n: usize, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while count(ph, needle) < n {
        assert!(
            Instant::now() < deadline,
            "expected {n} log line(s) with '{needle}':\n{}",
            ph.log().join("\n")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `messages` on `port` until a log line contains `needle`, and returns that line: JACK
/// puts a new connection into its graph from a later cycle on, and what is sent before that
/// goes nowhere, as with a cable plugged in mid-message.
pub fn send_until(
    ph: &mut Playhead,
    port: &mut MidiOutputConnection,
    messages: &[&[u8]],
    needle: &str,
) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        for m in messages {
            port.send(m).unwrap();
        }
        let resend = Instant::now() + Duration::from_secs(1);
        while Instant::now() < resend {
            if let Some(line) = ph.log().into_iter().find(|l| l.contains(needle)) {
                return line;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            Instant::now() < deadline,
            "no log line with '{needle}':\n{}",
            ph.log().join("\n")
        );
    }
}

//! A JACK server of a test's or a bench's own (the dummy driver: no sound card needed), the
//! default server of the process that starts it and of its children, stopped when dropped.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `jackd -d dummy` at 48 kHz with 256-frame periods, named `name`.
pub struct JackServer(Child);

impl JackServer {
    /// Starts the server, makes it this process's default (`JACK_DEFAULT_SERVER`, inherited by
    /// the programs it starts) and waits until a client can connect to it.
    pub fn start(name: &str) -> Result<JackServer, String> {
        let child = Command::new("jackd")
            .args(["-n", name, "-r", "-d", "dummy", "-r", "48000", "-p", "256"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start jackd (Debian package jackd2): {e}"))?;
        // Set before any thread of this process talks to JACK.
        std::env::set_var("JACK_DEFAULT_SERVER", name);
        let server = JackServer(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let up = Command::new("jack_wait")
                .args(["-s", name, "-c"])
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "running");
            if up {
                return Ok(server);
            }
            if Instant::now() > deadline {
                return Err("jackd did not come up".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for JackServer {
    fn drop(&mut self) {
        // SIGTERM lets jackd take its entry out of JACK's shared registry; a killed server
        // leaves it there, and the registry holds only a few.
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.0.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

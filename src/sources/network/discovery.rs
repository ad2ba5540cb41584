//! DNS-SD over mDNS: advertises playhead's session as `_apple-midi._udp`, so macOS Audio MIDI
//! Setup and Windows rtpMIDI list it under Directory, and logs the other sessions it sees.
//!
//! Uses the pure Rust `mdns-sd` responder, so no avahi-daemon is needed; its socket shares
//! UDP 5353 with avahi when one runs. The host record it publishes is named after the machine
//! with a `-playhead` suffix, so it never competes with the host name avahi announces.

use crate::clock;
use log::{debug, info, warn};
use mdns_sd::{ServiceDaemon, ServiceEvent, ServiceInfo};
use playhead_core::network::session::clean_name;
use std::collections::HashSet;
use std::thread::JoinHandle;

/// The DNS-SD service type of AppleMIDI sessions.
pub const SERVICE_TYPE: &str = "_apple-midi._udp.local.";

/// The session's advertisement and the browser of other sessions; both stop when dropped.
pub struct Discovery {
    daemon: ServiceDaemon,
    fullname: String,
    browser: Option<JoinHandle<()>>,
}

/// A DNS label from a host name: letters, digits and dashes only.
fn dns_label(name: &str) -> String {
    let label: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let label = label.trim_matches('-');
    if label.is_empty() {
        "playhead".to_string()
    } else {
        label.chars().take(50).collect()
    }
}

impl Discovery {
    /// Advertises the session `name` on control port `port` and starts logging the sessions
    /// seen on the network.
    pub fn start(name: &str, port: u16) -> Result<Discovery, String> {
        let daemon =
            ServiceDaemon::new().map_err(|e| format!("cannot start mDNS (DNS-SD): {e}"))?;
        let host = format!("{}-playhead.local.", dns_label(&super::host_name()));
        let info = ServiceInfo::new(SERVICE_TYPE, name, &host, "", port, None)
            .map_err(|e| format!("cannot advertise session '{name}' over mDNS: {e}"))?
            .enable_addr_auto();
        let fullname = info.get_fullname().to_string();
        daemon
            .register(info)
            .map_err(|e| format!("cannot advertise session '{name}' over mDNS: {e}"))?;
        info!("network MIDI: advertising session '{name}' over mDNS as {SERVICE_TYPE}");
        let events = daemon
            .browse(SERVICE_TYPE)
            .map_err(|e| format!("cannot look for network-MIDI sessions over mDNS: {e}"))?;
        let own = fullname.clone();
        let browser = std::thread::Builder::new()
            .name("mdns-browse".into())
            .spawn(move || {
                let mut seen: HashSet<String> = HashSet::new();
                let mut lines = SeenLines::default();
                // Ends when the daemon shuts down and drops its end of the channel.
                while let Ok(event) = events.recv() {
                    match event {
                        ServiceEvent::ServiceResolved(s) if s.fullname != own => {
                            if seen.len() < MAX_SEEN && seen.insert(s.fullname.clone()) {
                                let mut addrs: Vec<String> =
                                    s.addresses.iter().map(|a| a.to_string()).collect();
                                addrs.sort();
                                lines.log(format!(
                                    "network MIDI: session '{}' seen on the network at {} port {}",
                                    clean_name(instance_name(&s.fullname)),
                                    addrs.join(", "),
                                    s.port
                                ));
                            }
                        }
                        ServiceEvent::ServiceRemoved(_, fullname) if fullname != own => {
                            if seen.remove(&fullname) {
                                lines.log(format!(
                                    "network MIDI: session '{}' is no longer advertised",
                                    clean_name(instance_name(&fullname))
                                ));
                            }
                        }
                        other => debug!("mDNS: {other:?}"),
                    }
                }
            })
            .map_err(|e| format!("cannot start the mDNS thread: {e}"))?;
        Ok(Discovery {
            daemon,
            fullname,
            browser: Some(browser),
        })
    }
}

/// Looks for network-MIDI sessions for `wait` and returns what it saw: (name, addresses,
/// control port), sorted by name. Sends mDNS queries on every interface.
pub fn browse_sessions(
    wait: std::time::Duration,
) -> Result<Vec<(String, Vec<String>, u16)>, String> {
    let daemon = ServiceDaemon::new().map_err(|e| format!("cannot start mDNS (DNS-SD): {e}"))?;
    let events = daemon
        .browse(SERVICE_TYPE)
        .map_err(|e| format!("cannot look for network-MIDI sessions over mDNS: {e}"))?;
    let deadline = clock::now() + wait;
    let mut found: Vec<(String, Vec<String>, u16)> = Vec::new();
    while let Some(left) = deadline.checked_duration_since(clock::now()) {
        match events.recv_timeout(left) {
            Ok(ServiceEvent::ServiceResolved(s)) => {
                let name = clean_name(instance_name(&s.fullname));
                if !found.iter().any(|(n, _, _)| *n == name) {
                    let mut addrs: Vec<String> =
                        s.addresses.iter().map(|a| a.to_string()).collect();
                    addrs.sort();
                    found.push((name, addrs, s.port));
                }
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    if let Ok(done) = daemon.shutdown() {
        let _ = done.recv_timeout(std::time::Duration::from_secs(1));
    }
    found.sort();
    Ok(found)
}

/// Most sessions seen over mDNS kept track of (anyone on the network can announce any number).
const MAX_SEEN: usize = 1024;

/// Lines about sessions seen or gone per minute; more are counted and the count logged.
const SEEN_LINES_PER_MINUTE: u32 = 20;

/// The rate limit of the "seen on the network" lines.
#[derive(Default)]
struct SeenLines {
    window: Option<std::time::Instant>,
    logged: u32,
    held_back: u64,
}

impl SeenLines {
    fn log(&mut self, line: String) {
        let now = clock::now();
        let start = *self.window.get_or_insert(now);
        if now.saturating_duration_since(start) >= std::time::Duration::from_secs(60) {
            if self.held_back > 0 {
                info!(
                    "network MIDI: {} more session(s) appeared or went over mDNS in the last \
                     minute (not logged one by one)",
                    self.held_back
                );
            }
            *self = SeenLines {
                window: Some(now),
                ..SeenLines::default()
            };
        }
        if self.logged >= SEEN_LINES_PER_MINUTE {
            self.held_back += 1;
            return;
        }
        self.logged += 1;
        info!("{line}");
    }
}

/// The instance name in a DNS-SD full name (`Studio Mac._apple-midi._udp.local.`).
fn instance_name(fullname: &str) -> &str {
    fullname
        .strip_suffix(SERVICE_TYPE)
        .map(|s| s.trim_end_matches('.'))
        .unwrap_or(fullname)
}

impl Drop for Discovery {
    fn drop(&mut self) {
        // Say goodbye so the session disappears from lists at once rather than on expiry.
        if let Ok(done) = self.daemon.unregister(&self.fullname) {
            let _ = done.recv_timeout(std::time::Duration::from_secs(1));
        }
        match self.daemon.shutdown() {
            Ok(done) => {
                let _ = done.recv_timeout(std::time::Duration::from_secs(1));
            }
            Err(e) => warn!("mDNS shutdown: {e}"),
        }
        if let Some(t) = self.browser.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_dns_labels_and_instance_names_come_back() {
        assert_eq!(dns_label("show-pc"), "show-pc");
        assert_eq!(dns_label("Show PC (2)"), "Show-PC--2");
        assert_eq!(dns_label("..."), "playhead");
        assert_eq!(
            instance_name("Studio Mac._apple-midi._udp.local."),
            "Studio Mac"
        );
        assert_eq!(instance_name("odd"), "odd");
    }
}

//! Network MIDI: playhead as its own AppleMIDI / RTP-MIDI (RFC 6295) session participant, so a
//! Mac's Network MIDI or Windows rtpMIDI can connect with no other daemon.
//!
//! The wire formats and the session state machine are the core's
//! (`playhead_core::network::{packet, session}`): pure, bytes and time in, packets and events
//! out. [`sockets`] owns the two UDP sockets and the threads that drive the session, one
//! [`crate::sources::MidiInlet`] per peer; [`discovery`] advertises the session over DNS-SD
//! (mDNS) and logs the sessions it sees. The scripted participant that plays a DAW's side in
//! the benchmark and the tests is the test kit's `peer`.

pub mod discovery;
pub mod memory;
pub mod sockets;

use crate::messages::PlayerInput;
use crossbeam_channel::Sender;
use playhead_core::network::session::MAKE_ROOM_SILENCE_US;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

pub use sockets::Network;

/// The control port network MIDI uses by convention; the data port is the next one.
pub const DEFAULT_CONTROL_PORT: u16 = 5004;

/// Command-line options of network MIDI.
#[derive(clap::Args, Debug, Clone)]
pub struct NetworkOptions {
    /// UDP control port of playhead's network-MIDI session; the data port is the next one up.
    /// 0 picks a free pair and logs it.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_CONTROL_PORT)]
    pub rtp_port: u16,

    /// Do not open a network-MIDI session at all.
    #[arg(long)]
    pub no_rtp: bool,

    /// Invite a remote network-MIDI session (a Mac's, rtpMIDI's, another playhead's), and keep
    /// inviting it until it answers and whenever it leaves. PORT defaults to 5004. Repeatable.
    #[arg(long, value_name = "HOST[:PORT]")]
    pub rtp_connect: Vec<String>,

    /// The name other machines see for playhead's session (default: this machine's host name).
    #[arg(long, value_name = "NAME")]
    pub session_name: Option<String>,

    /// Accept network-MIDI peers only from this network (192.168.1.0/24), address or host name.
    /// Repeatable. Default: anyone who can reach the port.
    #[arg(long, value_name = "CIDR|NAME")]
    pub allow: Vec<String>,

    /// Do not advertise the session over mDNS (DNS-SD) nor look for others; peers must then
    /// be configured by address.
    #[arg(long)]
    pub no_mdns: bool,

    /// How long a peer must have been silent before a full session gives its place to a
    /// newcomer. Not a command-line option: the default suits shows; tests shorten it.
    #[arg(skip = Duration::from_micros(MAKE_ROOM_SILENCE_US))]
    pub make_room_after_silence: Duration,

    /// The folder where the session table (our SSRC, the joined peers) is kept so a restart
    /// after a crash carries the session on. Not a command-line option: the program uses the
    /// state folder ([`crate::state_dir`]); `None` (tests' default) keeps nothing.
    #[arg(skip)]
    pub state_dir: Option<PathBuf>,
}

impl Default for NetworkOptions {
    fn default() -> Self {
        NetworkOptions {
            rtp_port: DEFAULT_CONTROL_PORT,
            no_rtp: false,
            rtp_connect: Vec::new(),
            session_name: None,
            allow: Vec::new(),
            no_mdns: false,
            make_room_after_silence: Duration::from_micros(MAKE_ROOM_SILENCE_US),
            state_dir: None,
        }
    }
}

/// One `--allow` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllowRule {
    /// A network: address and prefix length in bits (a single address has the full length).
    Network(IpAddr, u8),
    /// A host name, resolved when the session starts and again every minute.
    Name(String),
}

/// Reads one `--allow` value: `192.168.1.0/24`, `192.168.1.20`, `fe80::/10` or a host name.
pub fn parse_allow(text: &str) -> Result<AllowRule, String> {
    let text = text.trim();
    if let Some((addr, bits)) = text.split_once('/') {
        let ip: IpAddr = addr
            .parse()
            .map_err(|_| format!("--allow {text}: '{addr}' is not an IP address"))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let bits: u8 = bits
            .parse()
            .ok()
            .filter(|b| *b <= max)
            .ok_or_else(|| format!("--allow {text}: the prefix length must be 0 to {max}"))?;
        return Ok(AllowRule::Network(ip, bits));
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(AllowRule::Network(ip, if ip.is_ipv4() { 32 } else { 128 }));
    }
    let valid_name = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_');
    if !valid_name {
        return Err(format!(
            "--allow '{text}': give a network (192.168.1.0/24), an address or a host name"
        ));
    }
    Ok(AllowRule::Name(text.to_string()))
}

/// Reads one `--rtp-connect` value into a host and a control port.
pub fn parse_connect(text: &str) -> Result<(String, u16), String> {
    let text = text.trim();
    // An IPv6 literal carries colons of its own: [fe80::1]:5004, or bare without a port.
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok((ip.to_string(), DEFAULT_CONTROL_PORT));
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok((addr.ip().to_string(), addr.port()));
    }
    let (host, port) = match text.rsplit_once(':') {
        Some((host, port)) => {
            let port: u16 = port
                .parse()
                .ok()
                .filter(|p| *p > 0 && *p < u16::MAX)
                .ok_or_else(|| {
                    format!("--rtp-connect {text}: '{port}' is not a port number (1-65534)")
                })?;
            (host, port)
        }
        None => (text, DEFAULT_CONTROL_PORT),
    };
    if host.is_empty() {
        return Err(format!("--rtp-connect '{text}': give HOST or HOST:PORT"));
    }
    Ok((host.to_string(), port))
}

/// Resolves `host` to an IPv4 address (the sockets are IPv4).
pub fn resolve_ipv4(host: &str, port: u16) -> Result<SocketAddr, String> {
    let addrs = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve '{host}': {e}"))?;
    addrs
        .into_iter()
        .find(|a| a.is_ipv4())
        .ok_or_else(|| format!("'{host}' has no IPv4 address"))
}

/// This machine's host name, the default session name.
pub fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .find(|s| !s.is_empty())
        .unwrap_or_else(|| "playhead".to_string())
}

/// Starts network MIDI as the options say, for the program, feeding every peer's MIDI to the
/// player through `tx`. `None` when `--no-rtp` turned it off, or when the port is taken: that
/// is not fatal (OS MIDI ports and keys still work), it is logged with what to do. A typo in
/// an option is an error. Keep the handle for as long as the show runs: dropping it says
/// goodbye to the peers and withdraws the advertisement. (Tests that want the error of a busy
/// port call [`Network::start`] directly.)
pub fn spawn(options: &NetworkOptions, tx: Sender<PlayerInput>) -> Result<Option<Network>, String> {
    for a in &options.allow {
        parse_allow(a)?;
    }
    for c in &options.rtp_connect {
        parse_connect(c)?;
    }
    if options.no_rtp {
        log::info!("network MIDI is off (--no-rtp)");
        return Ok(None);
    }
    let mut options = options.clone();
    if options.state_dir.is_none() {
        options.state_dir = crate::state_dir::path();
        if options.state_dir.is_none() {
            log::warn!(
                "network MIDI: no state folder (neither XDG_STATE_HOME nor HOME is set): after a \
                 crash the DAW will have to connect again"
            );
        }
    }
    match Network::start(&options, tx) {
        Ok(network) => Ok(Some(network)),
        Err(e) => {
            log::error!("{e}; network MIDI is off, MIDI ports, devices and keys still work");
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_rules_are_read_or_refused_with_a_reason() {
        assert_eq!(
            parse_allow("192.168.1.0/24"),
            Ok(AllowRule::Network([192, 168, 1, 0].into(), 24))
        );
        assert_eq!(
            parse_allow("10.1.2.3"),
            Ok(AllowRule::Network([10, 1, 2, 3].into(), 32))
        );
        assert_eq!(
            parse_allow("fe80::/10"),
            Ok(AllowRule::Network("fe80::".parse().unwrap(), 10))
        );
        assert_eq!(
            parse_allow("studio-mac.local"),
            Ok(AllowRule::Name("studio-mac.local".into()))
        );
        assert!(parse_allow("10.0.0.0/33").unwrap_err().contains("0 to 32"));
        assert!(parse_allow("10.0.0/8").unwrap_err().contains("not an IP"));
        assert!(parse_allow("a b").is_err());
        assert!(parse_allow("").is_err());
    }

    #[test]
    fn connect_targets_default_to_port_5004() {
        assert_eq!(parse_connect("mac.local"), Ok(("mac.local".into(), 5004)));
        assert_eq!(
            parse_connect("10.0.0.2:5010"),
            Ok(("10.0.0.2".into(), 5010))
        );
        assert_eq!(parse_connect("::1"), Ok(("::1".into(), 5004)));
        assert_eq!(parse_connect("[::1]:6000"), Ok(("::1".into(), 6000)));
        assert!(parse_connect("mac:port")
            .unwrap_err()
            .contains("port number"));
        assert!(parse_connect("mac:65535").is_err(), "no data port above it");
        assert!(parse_connect(":5004").is_err());
    }
}

//! `--allow` for the remote and OSC: the same rules as network MIDI's, checked per client.

use crate::sources::network::{parse_allow, AllowRule};
use std::net::{IpAddr, ToSocketAddrs};

/// The networks and addresses the remote admits; empty admits everyone.
#[derive(Clone, Debug, Default)]
pub struct RemoteAllow {
    networks: Vec<(IpAddr, u8)>,
}

impl RemoteAllow {
    /// Reads the `--allow` values. Host names are resolved now, once: a name that does not
    /// resolve admits nobody (and says so).
    pub fn from_rules(texts: &[String]) -> Result<RemoteAllow, String> {
        let mut networks = Vec::new();
        for text in texts {
            match parse_allow(text)? {
                AllowRule::Network(ip, bits) => networks.push((ip, bits)),
                AllowRule::Name(name) => match (name.as_str(), 0).to_socket_addrs() {
                    Ok(addrs) => {
                        for a in addrs {
                            let bits = if a.is_ipv4() { 32 } else { 128 };
                            networks.push((a.ip(), bits));
                        }
                    }
                    Err(e) => log::warn!(
                        "--allow {name}: cannot resolve it for the remote ({e}); it admits nobody"
                    ),
                },
            }
        }
        if !texts.is_empty() && networks.is_empty() {
            // Rules were given but none resolved: admit nobody rather than everyone.
            networks.push((IpAddr::from([255, 255, 255, 255]), 32));
        }
        Ok(RemoteAllow { networks })
    }

    /// True when `ip` may use the remote.
    pub fn admits(&self, ip: IpAddr) -> bool {
        self.networks.is_empty()
            || self
                .networks
                .iter()
                .any(|&(net, bits)| within(ip, net, bits))
    }
}

/// True when `ip` is in the network `net`/`bits` (an IPv4 address mapped into IPv6 counts as
/// IPv4).
fn within(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(bits.min(32)))
                .unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(bits.min(128)))
                .unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_admit_their_addresses_only() {
        let allow = RemoteAllow::from_rules(&["192.168.1.0/24".into(), "10.0.0.7".into()]).unwrap();
        assert!(allow.admits("192.168.1.200".parse().unwrap()));
        assert!(allow.admits("10.0.0.7".parse().unwrap()));
        assert!(allow.admits("::ffff:192.168.1.9".parse().unwrap()));
        assert!(!allow.admits("10.0.0.8".parse().unwrap()));
        assert!(!allow.admits("127.0.0.1".parse().unwrap()));
        assert!(RemoteAllow::default().admits("127.0.0.1".parse().unwrap()));
        let all = RemoteAllow::from_rules(&["0.0.0.0/0".into()]).unwrap();
        assert!(all.admits("8.8.8.8".parse().unwrap()));
    }
}

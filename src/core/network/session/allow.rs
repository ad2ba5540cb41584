//! Who may join a session: the allow-list, and addresses compared as the same host whether a
//! socket reports them as IPv4 or as IPv4-mapped IPv6.

use std::net::{IpAddr, SocketAddr};

/// Who may join the session.
#[derive(Clone, Debug)]
pub enum Allow {
    /// Any address.
    Everyone,
    /// Only these hosts (any port).
    Addresses(Vec<IpAddr>),
    /// Only hosts inside these networks, each an address and a prefix length in bits
    /// (`192.168.1.0/24` is `(192.168.1.0, 24)`; a single host has 32, or 128 for IPv6).
    Networks(Vec<(IpAddr, u8)>),
}

impl Allow {
    /// True when an invitation from `address` may be accepted.
    pub fn permits(&self, address: SocketAddr) -> bool {
        match self {
            Allow::Everyone => true,
            Allow::Addresses(hosts) => {
                let ip = canonical(address.ip());
                hosts.iter().any(|h| canonical(*h) == ip)
            }
            Allow::Networks(networks) => {
                let ip = canonical(address.ip());
                networks
                    .iter()
                    .any(|&(net, prefix_bits)| in_network(ip, canonical(net), prefix_bits))
            }
        }
    }
}

/// True when `ip` lies in the network `net`/`prefix_bits` (same address family only).
fn in_network(ip: IpAddr, net: IpAddr, prefix_bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let bits = u32::from(prefix_bits.min(32));
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let bits = u32::from(prefix_bits.min(128));
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

/// A dual-stack socket reports IPv4 peers as `::ffff:a.b.c.d`; compare them as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// True when two addresses are the same host, whatever their ports.
pub(super) fn same_host(a: SocketAddr, b: SocketAddr) -> bool {
    canonical(a.ip()) == canonical(b.ip())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn addr(host: u8, port: u16) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, host], port))
    }

    #[test]
    fn network_rules_admit_hosts_inside_and_refuse_the_rest() {
        let allow = Allow::Networks(vec![
            (IpAddr::from([192, 0, 2, 0]), 24),
            (IpAddr::from([198, 51, 100, 7]), 32),
            (IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0]), 32),
        ]);
        let permits = |ip: IpAddr| allow.permits(SocketAddr::new(ip, 5004));
        assert!(permits(IpAddr::from([192, 0, 2, 200])));
        assert!(permits(IpAddr::from([198, 51, 100, 7])));
        assert!(!permits(IpAddr::from([198, 51, 100, 8])));
        assert!(!permits(IpAddr::from([192, 0, 3, 1])));
        assert!(permits(IpAddr::from([0x2001, 0xdb8, 1, 2, 3, 4, 5, 6])));
        assert!(!permits(IpAddr::from([0x2001, 0xdb9, 0, 0, 0, 0, 0, 1])));
        // IPv4 seen through a dual-stack socket is still IPv4.
        assert!(permits(IpAddr::from([192, 0, 2, 9]).to_canonical()));
        assert!(permits(
            std::net::Ipv4Addr::new(192, 0, 2, 9)
                .to_ipv6_mapped()
                .into()
        ));
        // Prefix 0 admits everyone of the family; out-of-range prefixes are clamped.
        let everyone = Allow::Networks(vec![(IpAddr::from([10, 0, 0, 0]), 0)]);
        assert!(everyone.permits(addr(1, 1)));
        let clamped = Allow::Networks(vec![(IpAddr::from([192, 0, 2, 1]), 99)]);
        assert!(clamped.permits(addr(1, 1)) && !clamped.permits(addr(2, 1)));
    }
}

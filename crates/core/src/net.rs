//! The SSRF policy: which destination addresses a delivery may connect to.
//!
//! By default every address that is not globally routable is refused: loopback, private
//! (RFC 1918, unique-local), link-local (cloud metadata at 169.254.169.254 included), CGNAT,
//! multicast, unspecified, documentation and other reserved ranges, for IPv4, IPv6 and
//! IPv4-mapped IPv6. Operators open ranges with `--allow-subnet`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// Longest destination URL accepted (an endpoint's, a replay's).
pub const MAX_URL_LEN: usize = 65536;

/// The rule for a URL hookd sends requests to (an endpoint, a replay target): at most
/// [`MAX_URL_LEN`] characters, `http` or `https`, with a host. Where it may connect is the
/// SSRF guard's business ([`NetPolicy`]), checked when connecting.
pub fn parse_destination_url(url: &str) -> Result<url::Url, String> {
    if url.len() > MAX_URL_LEN {
        return Err(format!("must be at most {MAX_URL_LEN} characters"));
    }
    match url::Url::parse(url) {
        Err(e) => Err(format!("not a valid URL: {e}")),
        Ok(u) if !matches!(u.scheme(), "http" | "https") => Err("must use http or https".into()),
        Ok(u) if u.host_str().is_none_or(str::is_empty) => Err("must have a host".into()),
        Ok(u) => Ok(u),
    }
}

/// Addresses allowed past the guard despite being non-public.
#[derive(Debug, Clone, Default)]
pub struct NetPolicy {
    allowed: Vec<IpNet>,
}

impl NetPolicy {
    pub fn new(allowed: Vec<IpNet>) -> Self {
        Self { allowed }
    }

    /// Allows everything; for tests of code that is not about SSRF.
    pub fn allow_all() -> Self {
        Self::new(vec!["0.0.0.0/0".parse().unwrap(), "::/0".parse().unwrap()])
    }

    /// This policy, and private networks as well: loopback, RFC 1918, CGNAT and unique-local
    /// addresses, for the endpoints of a source that allows them (an app inside the
    /// operator's own network). Link-local addresses (cloud metadata) stay refused, and so do
    /// multicast, unspecified and reserved ones.
    pub fn with_private_networks(&self) -> Self {
        let mut allowed = self.allowed.clone();
        for net in
            ["127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "::1/128", "fc00::/7"]
        {
            allowed.push(net.parse().expect("a valid network"));
        }
        Self { allowed }
    }

    /// `Ok` when a delivery may connect to `ip`, otherwise the reason it may not.
    pub fn check(&self, ip: IpAddr) -> Result<(), String> {
        let ip = canonical(ip);
        if self.allowed.iter().any(|net| net.contains(&ip)) {
            return Ok(());
        }
        match forbidden_range(ip) {
            Some(range) => {
                Err(format!("destination address {ip} is {range}; refused by the SSRF guard (see --allow-subnet)"))
            }
            None => Ok(()),
        }
    }
}

/// IPv4-mapped IPv6 (`::ffff:a.b.c.d`) is judged as the IPv4 address it carries.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

fn forbidden_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, _, _) => "unspecified (0.0.0.0/8)",
        (10, _, _) => "private (10.0.0.0/8)",
        (100, 64..=127, _) => "carrier-grade NAT (100.64.0.0/10)",
        (127, _, _) => "loopback (127.0.0.0/8)",
        (169, 254, _) => "link-local (169.254.0.0/16, cloud metadata)",
        (172, 16..=31, _) => "private (172.16.0.0/12)",
        (192, 0, 0) => "reserved (192.0.0.0/24)",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation range",
        (192, 168, _) => "private (192.168.0.0/16)",
        (198, 18..=19, _) => "benchmarking (198.18.0.0/15)",
        (224..=239, _, _) => "multicast (224.0.0.0/4)",
        (240..=255, _, _) => "reserved or broadcast (240.0.0.0/4)",
        _ => return None,
    })
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let seg = ip.segments();
    if ip.is_unspecified() {
        return Some("unspecified (::)");
    }
    if ip.is_loopback() {
        return Some("loopback (::1)");
    }
    Some(match seg[0] {
        0xfc00..=0xfdff => "unique-local (fc00::/7)",
        0xfe80..=0xfebf => "link-local (fe80::/10)",
        0xfec0..=0xfeff => "site-local (fec0::/10)",
        0xff00..=0xffff => "multicast (ff00::/8)",
        0x2001 if seg[1] == 0x0db8 => "documentation (2001:db8::/32)",
        0x0064 if seg[1] == 0xff9b => "NAT64 (64:ff9b::/96)",
        // IPv4-compatible and other addresses in ::/96 and 100::/64 (discard).
        0x0000 => "reserved (::/8)",
        0x0100 if seg[1..4] == [0, 0, 0] => "discard (100::/64)",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(p: &NetPolicy, s: &str) -> bool {
        p.check(s.parse().unwrap()).is_err()
    }

    #[test]
    fn refuses_non_public_ranges_by_default() {
        let p = NetPolicy::default();
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(refused(&p, ip), "{ip} should be refused");
        }
        for ip in ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "172.32.0.1"] {
            assert!(!refused(&p, ip), "{ip} should be allowed");
        }
    }

    #[test]
    fn allow_list_opens_ranges() {
        let p = NetPolicy::new(vec!["127.0.0.0/8".parse().unwrap()]);
        assert!(!refused(&p, "127.0.0.1"));
        assert!(!refused(&p, "::ffff:127.0.0.1"));
        assert!(refused(&p, "10.0.0.1"));
        let msg = NetPolicy::default().check("10.0.0.1".parse().unwrap()).unwrap_err();
        assert!(msg.contains("private"), "{msg}");
    }
}

//! Which addresses a webhook may reach: the public internet, and the classes `--webhook-allow`
//! names. Every range of IANA's IPv4 and IPv6 special-purpose address registries (and
//! multicast, and IPv6 outside global unicast) is refused; an address that embeds an IPv4
//! address (IPv4-mapped, IPv4-compatible, NAT64, 6to4, Teredo) is judged by the address it
//! embeds as well as by its own range.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Networks a webhook URL may reach besides the public internet (`--webhook-allow`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AllowedNetworks {
    /// 127.0.0.0/8, ::1.
    pub loopback: bool,
    /// 10/8, 172.16/12, 192.168/16, 100.64/10 (shared), fc00::/7.
    pub private: bool,
    /// 169.254/16, fe80::/10.
    pub link_local: bool,
}

/// The class of a restricted range: the first three can be allowed, the rest never.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Loopback,
    Private,
    LinkLocal,
    /// Unspecified, documentation, benchmarking, protocol assignments, multicast, reserved,
    /// transition mechanisms: never a webhook's endpoint.
    Special,
}

/// Why an address is not one webhooks reach: its range and that range's class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Restricted {
    pub class: Class,
    /// The range, with its name in the registry (`127.0.0.0/8 (loopback)`).
    pub range: &'static str,
    /// The IPv4 address an IPv6 address embeds, when that is what is restricted.
    pub embedded: Option<Ipv4Addr>,
}

impl Restricted {
    /// What an error message says of the address (after "… is").
    pub fn describe(&self) -> String {
        let how = match self.class {
            Class::Loopback => "allow with --webhook-allow loopback",
            Class::Private => "allow with --webhook-allow private",
            Class::LinkLocal => "allow with --webhook-allow link-local",
            Class::Special => "a special-purpose range webhooks never reach",
        };
        match self.embedded {
            Some(v4) => format!(
                "an address embedding {v4}, which is in {} ({how})",
                self.range
            ),
            None => format!("in {} ({how})", self.range),
        }
    }
}

/// IANA's IPv4 special-purpose registry, private-use and shared space, multicast and the
/// reserved block: (network, prefix length, class, range as named in messages).
const V4: &[(u32, u8, Class, &str)] = &[
    (
        0x0000_0000,
        8,
        Class::Special,
        "0.0.0.0/8 (\"this network\")",
    ),
    (0x0a00_0000, 8, Class::Private, "10.0.0.0/8 (private use)"),
    (
        0x6440_0000,
        10,
        Class::Private,
        "100.64.0.0/10 (shared address space)",
    ),
    (0x7f00_0000, 8, Class::Loopback, "127.0.0.0/8 (loopback)"),
    (
        0xa9fe_0000,
        16,
        Class::LinkLocal,
        "169.254.0.0/16 (link local)",
    ),
    (
        0xac10_0000,
        12,
        Class::Private,
        "172.16.0.0/12 (private use)",
    ),
    (
        0xc000_0000,
        24,
        Class::Special,
        "192.0.0.0/24 (IETF protocol assignments)",
    ),
    (
        0xc000_0200,
        24,
        Class::Special,
        "192.0.2.0/24 (documentation)",
    ),
    (0xc01f_c400, 24, Class::Special, "192.31.196.0/24 (AS112)"),
    (0xc034_c100, 24, Class::Special, "192.52.193.0/24 (AMT)"),
    (
        0xc058_6300,
        24,
        Class::Special,
        "192.88.99.0/24 (6to4 relay anycast)",
    ),
    (
        0xc0a8_0000,
        16,
        Class::Private,
        "192.168.0.0/16 (private use)",
    ),
    (
        0xc0af_3000,
        24,
        Class::Special,
        "192.175.48.0/24 (AS112 direct delegation)",
    ),
    (
        0xc612_0000,
        15,
        Class::Special,
        "198.18.0.0/15 (benchmarking)",
    ),
    (
        0xc633_6400,
        24,
        Class::Special,
        "198.51.100.0/24 (documentation)",
    ),
    (
        0xcb00_7100,
        24,
        Class::Special,
        "203.0.113.0/24 (documentation)",
    ),
    (0xe000_0000, 4, Class::Special, "224.0.0.0/4 (multicast)"),
    (
        0xf000_0000,
        4,
        Class::Special,
        "240.0.0.0/4 (reserved, and broadcast)",
    ),
];

/// IANA's IPv6 special-purpose registry and the classes outside global unicast (2000::/3):
/// (network, prefix length, class, range). Listed most specific first.
const V6: &[(u128, u8, Class, &str)] = &[
    (0, 128, Class::Special, "::/128 (unspecified)"),
    (1, 128, Class::Loopback, "::1/128 (loopback)"),
    (
        0x0064_ff9b_0001 << 80,
        48,
        Class::Special,
        "64:ff9b:1::/48 (local-use IPv4/IPv6 translation)",
    ),
    (0x0100 << 112, 64, Class::Special, "100::/64 (discard-only)"),
    (
        0x0100_0000_0000_0001 << 64,
        64,
        Class::Special,
        "100:0:0:1::/64 (dummy prefix)",
    ),
    (
        0x2001_0db8 << 96,
        32,
        Class::Special,
        "2001:db8::/32 (documentation)",
    ),
    (
        0x2001 << 112,
        23,
        Class::Special,
        "2001::/23 (IETF protocol assignments)",
    ),
    (0x2002 << 112, 16, Class::Special, "2002::/16 (6to4)"),
    (
        0x2620_004f_8000 << 80,
        48,
        Class::Special,
        "2620:4f:8000::/48 (AS112 direct delegation)",
    ),
    (
        0x3fff << 112,
        20,
        Class::Special,
        "3fff::/20 (documentation)",
    ),
    (0xfc00 << 112, 7, Class::Private, "fc00::/7 (unique local)"),
    (
        0xfe80 << 112,
        10,
        Class::LinkLocal,
        "fe80::/10 (link-local unicast)",
    ),
];

fn in_v4(ip: u32, net: u32, len: u8) -> bool {
    len == 0 || (ip ^ net) >> (32 - u32::from(len)) == 0
}

fn in_v6(ip: u128, net: u128, len: u8) -> bool {
    len == 0 || (ip ^ net) >> (128 - u32::from(len)) == 0
}

/// What restricts an IPv4 address, if anything.
pub fn restricted_v4(ip: Ipv4Addr) -> Option<Restricted> {
    let ip = u32::from(ip);
    V4.iter()
        .find(|(net, len, ..)| in_v4(ip, *net, *len))
        .map(|&(_, _, class, range)| Restricted {
            class,
            range,
            embedded: None,
        })
}

/// The IPv4 addresses an IPv6 address stands for or embeds, with whether the IPv6 address
/// itself is still special (6to4, Teredo and the deprecated IPv4-compatible form are, even
/// around a public address; IPv4-mapped and NAT64 addresses are the IPv4 address).
fn embedded(ip: Ipv6Addr) -> Option<(Vec<Ipv4Addr>, Option<&'static str>)> {
    let bits = u128::from(ip);
    let low = Ipv4Addr::from(bits as u32);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some((vec![v4], None));
    }
    if in_v6(bits, 0x0064_ff9b << 96, 96) {
        return Some((vec![low], None));
    }
    if in_v6(bits, 0, 96) && bits > 1 {
        return Some((vec![low], Some("::/96 (IPv4-compatible, deprecated)")));
    }
    if in_v6(bits, 0x2002 << 112, 16) {
        return Some((
            vec![Ipv4Addr::from((bits >> 80) as u32)],
            Some("2002::/16 (6to4)"),
        ));
    }
    if in_v6(bits, 0x2001_0000 << 96, 32) {
        // Teredo: the server's address, then the client's (inverted).
        let server = Ipv4Addr::from((bits >> 64) as u32);
        let client = Ipv4Addr::from(!(bits as u32));
        return Some((vec![server, client], Some("2001::/32 (Teredo)")));
    }
    None
}

/// What restricts an IPv6 address, if anything.
pub fn restricted_v6(ip: Ipv6Addr) -> Option<Restricted> {
    if let Some((addresses, special)) = embedded(ip) {
        let inner = addresses.into_iter().find_map(|v4| {
            restricted_v4(v4).map(|r| Restricted {
                embedded: Some(v4),
                ..r
            })
        });
        return match (inner, special) {
            // A restricted address inside a form that is special anyway: never allowed,
            // named by what it embeds.
            (Some(inner), Some(_)) => Some(Restricted {
                class: Class::Special,
                ..inner
            }),
            (Some(inner), None) => Some(inner),
            (None, Some(range)) => Some(Restricted {
                class: Class::Special,
                range,
                embedded: None,
            }),
            (None, None) => None,
        };
    }
    let bits = u128::from(ip);
    if let Some(&(_, _, class, range)) = V6.iter().find(|(net, len, ..)| in_v6(bits, *net, *len)) {
        return Some(Restricted {
            class,
            range,
            embedded: None,
        });
    }
    // Only global unicast reaches the internet: multicast (ff00::/8), site-local (fec0::/10)
    // and the rest of the unassigned space do not.
    (!in_v6(bits, 0x2000 << 112, 3)).then_some(Restricted {
        class: Class::Special,
        range: if in_v6(bits, 0xff00 << 112, 8) {
            "ff00::/8 (multicast)"
        } else {
            "outside 2000::/3 (not global unicast)"
        },
        embedded: None,
    })
}

impl AllowedNetworks {
    /// What restricts `ip`, if anything, and whether this policy lets it through.
    pub fn check(self, ip: IpAddr) -> Result<(), Restricted> {
        let restricted = match ip {
            IpAddr::V4(v4) => restricted_v4(v4),
            IpAddr::V6(v6) => restricted_v6(v6),
        };
        match restricted {
            None => Ok(()),
            Some(r) => match r.class {
                Class::Loopback if self.loopback => Ok(()),
                Class::Private if self.private => Ok(()),
                Class::LinkLocal if self.link_local => Ok(()),
                _ => Err(r),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(policy: AllowedNetworks, addr: &str) -> Result<(), Class> {
        policy.check(addr.parse().unwrap()).map_err(|r| r.class)
    }

    #[test]
    fn every_special_purpose_range_is_refused_and_public_addresses_pass() {
        let none = AllowedNetworks::default();
        for (addr, why) in [
            ("127.0.0.1", Class::Loopback),
            ("::1", Class::Loopback),
            ("::ffff:127.0.0.1", Class::Loopback),
            ("64:ff9b::7f00:1", Class::Loopback),
            ("10.1.2.3", Class::Private),
            ("172.16.0.1", Class::Private),
            ("192.168.1.1", Class::Private),
            ("100.64.0.1", Class::Private),
            ("fd00::1", Class::Private),
            ("169.254.169.254", Class::LinkLocal),
            ("fe80::1", Class::LinkLocal),
            ("::ffff:169.254.169.254", Class::LinkLocal),
            // Forms that are special whatever they embed, and named by what they embed.
            ("::127.0.0.1", Class::Special),
            ("2002:7f00:1::", Class::Special),
            ("2002:5db8:d822::1", Class::Special),
            ("2001:0:5db8:d822::80ff:fffe", Class::Special),
            ("::5db8:d822", Class::Special),
            // The rest of the registries.
            ("0.0.0.0", Class::Special),
            ("0.1.2.3", Class::Special),
            ("192.0.0.1", Class::Special),
            ("192.0.0.170", Class::Special),
            ("192.0.2.1", Class::Special),
            ("192.31.196.1", Class::Special),
            ("192.52.193.1", Class::Special),
            ("192.88.99.1", Class::Special),
            ("192.175.48.1", Class::Special),
            ("198.18.0.1", Class::Special),
            ("198.19.255.255", Class::Special),
            ("198.51.100.1", Class::Special),
            ("203.0.113.1", Class::Special),
            ("224.0.0.1", Class::Special),
            ("239.255.255.250", Class::Special),
            ("240.0.0.1", Class::Special),
            ("255.255.255.255", Class::Special),
            ("::", Class::Special),
            ("fec0::1", Class::Special),
            ("ff02::1", Class::Special),
            ("100::1", Class::Special),
            ("64:ff9b:1::1", Class::Special),
            ("2001:db8::1", Class::Special),
            ("2001:2::1", Class::Special),
            ("2001:10::1", Class::Special),
            ("2620:4f:8000::1", Class::Special),
            ("3fff::1", Class::Special),
            ("5f00::1", Class::Special),
            ("4000::1", Class::Special),
        ] {
            assert_eq!(class(none, addr), Err(why), "{addr}");
        }
        for public in [
            "93.184.216.34",
            "1.1.1.1",
            "192.0.1.1",
            "198.17.255.255",
            "2606:2800:220:1::1",
            "::ffff:93.184.216.34",
            "64:ff9b::5db8:d822",
            "2a00:1450:4001::1",
        ] {
            assert_eq!(class(none, public), Ok(()), "{public}");
        }
    }

    #[test]
    fn a_class_is_allowed_when_named_and_special_ranges_never() {
        let loopback = AllowedNetworks {
            loopback: true,
            ..AllowedNetworks::default()
        };
        assert_eq!(class(loopback, "127.0.0.1"), Ok(()));
        assert_eq!(class(loopback, "::ffff:127.0.0.1"), Ok(()));
        assert_eq!(class(loopback, "10.0.0.1"), Err(Class::Private));
        assert_eq!(class(loopback, "0.0.0.0"), Err(Class::Special));
        // Embedded in a form that is special anyway: not loopback, whatever is allowed.
        assert_eq!(class(loopback, "::127.0.0.1"), Err(Class::Special));
        assert_eq!(class(loopback, "2002:7f00:1::"), Err(Class::Special));
        let all = AllowedNetworks {
            loopback: true,
            private: true,
            link_local: true,
        };
        assert_eq!(class(all, "169.254.169.254"), Ok(()));
        assert_eq!(class(all, "198.18.0.1"), Err(Class::Special));
        let restricted = restricted_v6("2002:7f00:1::".parse().unwrap()).unwrap();
        assert_eq!(
            restricted.describe(),
            "an address embedding 127.0.0.1, which is in 127.0.0.0/8 (loopback) (a \
             special-purpose range webhooks never reach)"
        );
    }
}

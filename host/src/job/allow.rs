//! A job's `allowed_hosts`: the origins its outbound HTTP may reach, and the rule that
//! keeps a permitted name from leading to an internal address.
//!
//! An entry is `scheme://host[:port]`:
//! - `scheme` is `http` or `https`;
//! - `host` is a name (`api.example.com`), a wildcard for its subdomains
//!   (`*.slack.com`: `hooks.slack.com`, not `slack.com`), `*` for any host, or an IP
//!   address (`127.0.0.1`, `[::1]`);
//! - `port` is a number or `*`; without one, the scheme's default port (80, 443).
//!
//! Names are only names: whatever a permitted name resolves to, a loopback, private,
//! link-local (cloud metadata: 169.254.169.254), unique-local or otherwise internal
//! address is refused, unless an entry names that very address ([`AllowList::names_address`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The parsed `allowed_hosts` of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowList {
    entries: Vec<Origin>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    https: bool,
    host: HostPattern,
    /// `None`: any port.
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    /// `*.suffix`: stored as `.suffix`, lower case.
    Subdomains(String),
    /// A name, lower case.
    Name(String),
    Address(IpAddr),
}

impl AllowList {
    /// Parses the entries, naming the first bad one.
    ///
    /// # Errors
    /// An entry that is not `http(s)://host[:port]` as described in the module docs.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        let entries = entries
            .iter()
            .map(|e| parse_origin(e.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(AllowList { entries })
    }

    /// Whether a request to `host:port` over `https` (or plain HTTP) is allowed, by
    /// name. `host` may be an IP literal (IPv6 with or without brackets).
    pub fn permits(&self, https: bool, host: &str, port: u16) -> bool {
        let host = normalise_host(host);
        let address: Option<IpAddr> = host.parse().ok();
        self.entries.iter().any(|o| {
            o.https == https
                && o.port.is_none_or(|p| p == port)
                && match &o.host {
                    HostPattern::Any => true,
                    HostPattern::Subdomains(suffix) => address.is_none() && host.ends_with(suffix),
                    HostPattern::Name(name) => *name == host,
                    HostPattern::Address(ip) => address == Some(*ip),
                }
        })
    }

    /// Whether an entry names `ip` itself (for `https` or not, on `port`): the only way
    /// a job may reach an internal address.
    pub fn names_address(&self, https: bool, ip: IpAddr, port: u16) -> bool {
        self.entries.iter().any(|o| {
            o.https == https
                && o.port.is_none_or(|p| p == port)
                && matches!(o.host, HostPattern::Address(a) if canonical(a) == canonical(ip))
        })
    }
}

fn parse_origin(entry: &str) -> Result<Origin, String> {
    let bad = |why: &str| {
        format!(
            "invalid allowed_hosts entry '{entry}': {why}; write scheme://host[:port], e.g. \
             \"https://api.example.com\", \"https://*.slack.com\" or \"http://127.0.0.1:8080\""
        )
    };
    let (scheme, rest) = entry.split_once("://").ok_or_else(|| bad("no scheme"))?;
    let https = match scheme.to_ascii_lowercase().as_str() {
        "https" => true,
        "http" => false,
        _ => return Err(bad("the scheme must be http or https")),
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains(['/', '?', '#', '@']) {
        return Err(bad("an entry is an origin: no path, query or user"));
    }
    let (host, port) = split_host_port(rest).ok_or_else(|| bad("the port is not valid"))?;
    let port = match port {
        None => Some(if https { 443 } else { 80 }),
        Some("*") => None,
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|&p| p > 0)
                .ok_or_else(|| bad("the port must be 1 to 65535 or *"))?,
        ),
    };
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let host = if host == "*" {
        HostPattern::Any
    } else if let Some(suffix) = host.strip_prefix("*.") {
        let suffix = suffix.trim_end_matches('.');
        if !is_name(suffix) {
            return Err(bad("a wildcard is *.domain"));
        }
        HostPattern::Subdomains(format!(".{suffix}"))
    } else if let Ok(ip) = host.parse::<IpAddr>() {
        HostPattern::Address(ip)
    } else if is_name(host.trim_end_matches('.')) {
        HostPattern::Name(host.trim_end_matches('.').to_owned())
    } else {
        return Err(bad("the host is not a name, an IP address or a wildcard"));
    };
    Ok(Origin { https, host, port })
}

/// Splits `host[:port]`, where an IPv6 host is bracketed.
fn split_host_port(s: &str) -> Option<(&str, Option<&str>)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after {
            "" => Some((host, None)),
            _ => Some((host, Some(after.strip_prefix(':')?))),
        };
    }
    match s.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => Some((host, Some(port))),
        Some(_) => None,
        None => Some((s, None)),
    }
}

fn normalise_host(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// An IPv4 address hidden in an IPv6 one (mapped, NAT64, 6to4) counts as itself.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => embedded_v4(v6).map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let tail = |a: u16, b: u16| Ipv4Addr::new((a >> 8) as u8, a as u8, (b >> 8) as u8, b as u8);
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) reach the IPv4 address they carry.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(tail(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return Some(tail(s[1], s[2]));
    }
    None
}

/// Whether `ip` is an address a job may only reach when its allow-list names it:
/// loopback, private, shared (CGNAT), link-local (cloud metadata), unique-local,
/// unspecified, multicast, broadcast, benchmarking and reserved ranges.
pub fn is_restricted_address(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // shared address space
                || (a == 198 && (b == 18 || b == 19)) // benchmarking
                || a >= 240 // reserved
                || (a == 192 && b == 0 && v4.octets()[2] == 0) // IETF protocol assignments
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local, fc00::/7 (fd00::/8 within)
                || (first & 0xffc0) == 0xfe80 // link-local
                || (first & 0xffc0) == 0xfec0 // site-local (deprecated)
                || first == 0x2001 && v6.segments()[1] == 0x0db8 // documentation
                || v6.segments()[..6] == [0, 0, 0, 0, 0, 0] // IPv4-compatible
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> AllowList {
        AllowList::parse(entries).unwrap()
    }

    #[test]
    fn matches_scheme_host_and_port() {
        let l = list(&[
            "https://api.example.com",
            "https://*.slack.com",
            "http://127.0.0.1:8080",
            "http://[::1]:*",
        ]);
        assert!(l.permits(true, "api.example.com", 443));
        assert!(l.permits(true, "API.Example.com.", 443));
        assert!(!l.permits(false, "api.example.com", 80), "scheme");
        assert!(
            !l.permits(true, "api.example.com", 8443),
            "default port only"
        );
        assert!(l.permits(true, "hooks.slack.com", 443));
        assert!(
            !l.permits(true, "slack.com", 443),
            "a wildcard is subdomains"
        );
        assert!(!l.permits(true, "evilslack.com", 443));
        assert!(l.permits(false, "127.0.0.1", 8080));
        assert!(!l.permits(false, "127.0.0.1", 8081));
        assert!(l.permits(false, "[::1]", 9));
        assert!(l.permits(false, "::1", 9));
        assert!(!l.permits(true, "example.org", 443));
    }

    #[test]
    fn an_internal_address_is_reachable_only_by_naming_it() {
        let l = list(&["http://*:*", "http://10.1.2.3:8080"]);
        assert!(l.permits(false, "10.9.9.9", 80), "by name, * allows it");
        assert!(!l.names_address(false, "10.9.9.9".parse().unwrap(), 80));
        assert!(l.names_address(false, "10.1.2.3".parse().unwrap(), 8080));
        assert!(l.names_address(false, "::ffff:10.1.2.3".parse().unwrap(), 8080));
        assert!(!l.names_address(false, "10.1.2.3".parse().unwrap(), 8081));
    }

    #[test]
    fn refuses_bad_entries_with_the_reason() {
        for (entry, why) in [
            ("api.example.com", "no scheme"),
            ("ftp://x.com", "http or https"),
            ("https://x.com/path", "no path"),
            ("https://x.com:0", "port"),
            ("https://x.com:99999", "port"),
            ("https://*.", "wildcard"),
            ("https://a b.com", "not a name"),
            ("https://user@x.com", "no path, query or user"),
        ] {
            let e = AllowList::parse(&[entry]).unwrap_err();
            assert!(e.contains(why) && e.contains(entry), "{entry}: {e}");
        }
        assert!(AllowList::parse(&["https://x.com/"]).is_ok());
    }

    #[test]
    fn knows_the_internal_ranges() {
        for ip in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
        ] {
            assert!(is_restricted_address(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "1.1.1.1", "2606:4700::1111", "172.32.0.1"] {
            assert!(!is_restricted_address(ip.parse().unwrap()), "{ip}");
        }
    }
}

//! Just enough URL handling for requests and their redirects: `http` and `https`
//! URLs split into what wasi:http asks for, and `Location` values resolved against
//! them (RFC 3986, section 5.2).

use std::fmt;

/// An absolute `http` or `https` URL, without a fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Url {
    pub(super) https: bool,
    /// `host` or `host:port`, the host in lower case (IPv6 in brackets).
    pub(super) authority: String,
    /// Starts with `/`.
    pub(super) path_and_query: String,
}

impl Url {
    pub(super) fn parse(text: &str) -> Result<Url, String> {
        let text = text.trim();
        if let Some(c) = text.chars().find(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!(
                "it contains {c:?} (percent-encode it, e.g. a space as %20)"
            ));
        }
        let Some((scheme, rest)) = text.split_once("://") else {
            return Err("it is not an absolute URL (it needs http:// or https://)".into());
        };
        let https = if scheme.eq_ignore_ascii_case("https") {
            true
        } else if scheme.eq_ignore_ascii_case("http") {
            false
        } else {
            return Err("only http and https URLs are supported".into());
        };
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path_and_query) = rest.split_at(end);
        let authority = parse_authority(authority)?;
        let path_and_query = match path_and_query.split_once('?') {
            _ if path_and_query.is_empty() => "/".to_owned(),
            Some(("", query)) => format!("/?{query}"),
            Some((path, query)) => format!("{}?{query}", remove_dot_segments(path)),
            None => remove_dot_segments(path_and_query),
        };
        Ok(Url {
            https,
            authority,
            path_and_query,
        })
    }

    /// Resolves a `Location` (absolute, `//host/...`, `/path`, `path`, `?query`)
    /// against this URL.
    pub(super) fn join(&self, location: &str) -> Result<Url, String> {
        let location = location.trim();
        let location = location
            .split_once('#')
            .map_or(location, |(before, _)| before);
        if has_scheme(location) {
            return Url::parse(location);
        }
        if location.starts_with("//") {
            let scheme = if self.https { "https:" } else { "http:" };
            return Url::parse(&format!("{scheme}{location}"));
        }
        let (base_path, _) = self
            .path_and_query
            .split_once('?')
            .unwrap_or((&self.path_and_query, ""));
        let path_and_query = if location.is_empty() {
            self.path_and_query.clone()
        } else if location.starts_with('?') {
            format!("{base_path}{location}")
        } else if location.starts_with('/') {
            location.to_owned()
        } else {
            let dir = &base_path[..=base_path.rfind('/').unwrap_or(0)];
            format!("{dir}{location}")
        };
        let scheme = if self.https { "https" } else { "http" };
        Url::parse(&format!("{scheme}://{}{path_and_query}", self.authority))
    }

    /// Whether `other` has the same scheme, host and port.
    pub(super) fn same_origin(&self, other: &Url) -> bool {
        self.https == other.https && self.host_port() == other.host_port()
    }

    fn host_port(&self) -> (&str, &str) {
        let default = if self.https { "443" } else { "80" };
        // The port follows the last ':' after an IPv6 literal's ']'.
        let start = self.authority.rfind(']').unwrap_or(0);
        match self.authority[start..].rfind(':') {
            Some(i) => {
                let (host, port) = self.authority.split_at(start + i);
                (host, &port[1..])
            }
            None => (&self.authority, default),
        }
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.authority, self.path_and_query)
    }
}

/// Whether `reference` starts with a scheme (`letter *( letter / digit / + / - / . ) :`),
/// which makes it an absolute URL rather than a path.
fn has_scheme(reference: &str) -> bool {
    let Some((scheme, _)) = reference.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
}

/// Checks `host[:port]` and lower-cases the host.
fn parse_authority(authority: &str) -> Result<String, String> {
    if authority.contains('@') {
        return Err(
            "credentials in the URL are not supported (send an Authorization header)".into(),
        );
    }
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let Some((ip, after)) = rest.split_once(']') else {
            return Err("an IPv6 address without its closing ']'".into());
        };
        if ip.is_empty()
            || !ip
                .chars()
                .all(|c| c.is_ascii_hexdigit() || ":.".contains(c))
        {
            return Err(format!("[{ip}] is not an IPv6 address"));
        }
        match after {
            "" => (&authority[..ip.len() + 2], None),
            _ => match after.strip_prefix(':') {
                Some(port) => (&authority[..ip.len() + 2], Some(port)),
                None => return Err(format!("unexpected {after:?} after the IPv6 address")),
            },
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("no host".into());
    }
    if !host.starts_with('[')
        && !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~%!$&'()*+,;=".contains(c))
    {
        return Err(format!("{host:?} is not a valid host name"));
    }
    match port {
        None => Ok(host.to_ascii_lowercase()),
        Some(port) => {
            if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("{port:?} is not a port number"));
            }
            match port.parse::<u16>() {
                Ok(p) if p > 0 => Ok(format!("{}:{port}", host.to_ascii_lowercase())),
                _ => Err(format!("port {port} is out of range")),
            }
        }
    }
}

/// Removes `.` and `..` segments from an absolute path (RFC 3986, 5.2.4).
fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    for (i, segment) in segments.iter().enumerate() {
        match *segment {
            "." => {}
            ".." => {
                out.pop();
            }
            s => {
                out.push(s);
                continue;
            }
        }
        // A trailing `.` or `..` leaves the path ending in `/`.
        if i == last {
            out.push("");
        }
    }
    format!("/{}", out.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn urls_split_into_scheme_authority_and_path() {
        let u = url("https://Example.COM:8443/a/b?x=1&y=2#frag");
        assert!(u.https);
        assert_eq!(u.authority, "example.com:8443");
        assert_eq!(u.path_and_query, "/a/b?x=1&y=2");
        assert_eq!(u.to_string(), "https://example.com:8443/a/b?x=1&y=2");

        assert_eq!(url("http://example.com").path_and_query, "/");
        assert_eq!(url("HTTP://example.com?q=1").path_and_query, "/?q=1");
        assert_eq!(url("http://a/b/./c/../d").path_and_query, "/b/d");
        assert_eq!(url("http://[::1]:8080/x").authority, "[::1]:8080");
        assert_eq!(url("http://[::1]/x").authority, "[::1]");
        assert_eq!(url("  http://10.0.0.1/ ").to_string(), "http://10.0.0.1/");
    }

    #[test]
    fn bad_urls_are_refused_with_a_reason() {
        for (text, reason) in [
            ("example.com/x", "is not an absolute URL"),
            ("ftp://example.com/", "only http and https"),
            ("http:///x", "no host"),
            ("http://user:pw@example.com/", "credentials in the URL"),
            ("http://example.com:99999/", "out of range"),
            ("http://example.com:x/", "is not a port number"),
            ("http://exa mple.com/", "percent-encode"),
            ("http://[::1/", "closing ']'"),
            ("http://ex\"ample/", "not a valid host name"),
        ] {
            let e = Url::parse(text).unwrap_err();
            assert!(e.contains(reason), "{text}: {e}");
        }
    }

    #[test]
    fn locations_resolve_against_the_url() {
        let base = url("https://a.example/x/y/z?q=1");
        for (location, expected) in [
            ("http://b.example/p", "http://b.example/p"),
            ("//c.example/p?r", "https://c.example/p?r"),
            ("/root", "https://a.example/root"),
            ("sibling", "https://a.example/x/y/sibling"),
            ("../up?k=v", "https://a.example/x/up?k=v"),
            ("./", "https://a.example/x/y/"),
            ("..", "https://a.example/x/"),
            ("?other", "https://a.example/x/y/z?other"),
            ("", "https://a.example/x/y/z?q=1"),
            ("#frag", "https://a.example/x/y/z?q=1"),
            ("/a/../../b", "https://a.example/b"),
        ] {
            assert_eq!(
                base.join(location).unwrap().to_string(),
                expected,
                "{location}"
            );
        }
        assert!(base.join("mailto:someone@example.com").is_err());
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let a = url("https://a.example/x");
        assert!(a.same_origin(&url("https://A.example:443/y")));
        assert!(!a.same_origin(&url("http://a.example/x")));
        assert!(!a.same_origin(&url("https://a.example:8443/x")));
        assert!(!a.same_origin(&url("https://b.example/x")));
        assert!(url("http://[::1]/").same_origin(&url("http://[::1]:80/")));
    }
}

//! The download example's URLs: an absolute `http://host[:port][/path]`, split into what a
//! request needs; `Location` values resolved against it; a safe file name from its path.
//! No I/O here: the fuzz targets (`fuzz/`) include this file as it is.

use std::io;

/// An `http://` URL, split into what a request needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    pub host: String,
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl Url {
    /// Parses an absolute `http://host[:port][/path]` URL; `https://` is refused.
    pub fn parse(s: &str) -> io::Result<Url> {
        let lower = s.to_ascii_lowercase();
        if lower.starts_with("https://") {
            let msg = "https:// is not supported (TLS is out of scope); use an http:// URL";
            return Err(io::Error::new(io::ErrorKind::Unsupported, msg));
        }
        if !lower.starts_with("http://") {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not an http:// URL",
            ));
        }
        let rest = &s["http://".len()..];
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let authority = authority.rsplit('@').next().unwrap_or(authority);
        let (host, port) = split_host_port(authority)?;
        let tail = tail.split('#').next().unwrap_or("");
        let path = match tail {
            "" => "/".to_string(),
            t if t.starts_with('?') => format!("/{t}"),
            t => t.to_string(),
        };
        if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "URL path contains spaces or control characters",
            ));
        }
        Ok(Url { host, port, path })
    }

    /// Resolves a `Location` header value against this URL.
    pub fn join(&self, location: &str) -> io::Result<Url> {
        let lower = location.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            return Url::parse(location);
        }
        if let Some(rest) = location.strip_prefix("//") {
            return Url::parse(&format!("http://{rest}"));
        }
        let path = if location.starts_with('/') {
            location.to_string()
        } else {
            let base = self.path.split('?').next().unwrap_or("/");
            let dir = &base[..base.rfind('/').map_or(0, |i| i + 1)];
            format!("{dir}{location}")
        };
        Url::parse(&format!("http://{}{path}", self.authority()))
    }

    /// `host[:port]` as the `Host` header wants it (the port only when not 80).
    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.port {
            80 => host,
            port => format!("{host}:{port}"),
        }
    }

    /// The last segment of the path (without the query), made safe as a file name;
    /// `index.html` when there is none.
    pub fn file_name(&self) -> String {
        let path = self.path.split('?').next().unwrap_or("");
        let last = path.rsplit('/').next().unwrap_or("");
        let name: String = percent_decode(last)
            .chars()
            .map(|c| {
                if c == '/' || c == '\0' || c.is_control() {
                    '_'
                } else {
                    c
                }
            })
            .collect();
        match name.as_str() {
            "" | "." | ".." => "index.html".to_string(),
            _ => name,
        }
    }
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http://{}{}", self.authority(), self.path)
    }
}

/// `host[:port]` or `[v6-host][:port]`. A colon in the host is allowed only in brackets,
/// brackets only around the host, and nothing but a port after them: anything else would
/// name another host than the one the URL prints as.
fn split_host_port(authority: &str) -> io::Result<(String, u16)> {
    let bad = || io::Error::new(io::ErrorKind::InvalidInput, "bad host or port in URL");
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let close = rest.find(']').ok_or_else(bad)?;
        let after = &rest[close + 1..];
        let port = after.strip_prefix(':');
        if port.is_none() && !after.is_empty() {
            return Err(bad());
        }
        (&rest[..close], port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let bracketed = authority.starts_with('[');
    if host.is_empty() || host.contains(['[', ']']) || (!bracketed && host.contains(':')) {
        return Err(bad());
    }
    let port = match port {
        None | Some("") => 80,
        Some(p) => p.parse().map_err(|_| bad())?,
    };
    Ok((host.to_string(), port))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(host: &str, port: u16, path: &str) -> Url {
        Url {
            host: host.into(),
            port,
            path: path.into(),
        }
    }

    #[test]
    fn parses_urls() {
        assert_eq!(
            Url::parse("http://example.org").unwrap(),
            url("example.org", 80, "/")
        );
        assert_eq!(
            Url::parse("HTTP://h:8080/a/b.bin?x=1#frag").unwrap(),
            url("h", 8080, "/a/b.bin?x=1")
        );
        assert_eq!(
            Url::parse("http://[::1]:81/f").unwrap(),
            url("::1", 81, "/f")
        );
        assert_eq!(Url::parse("http://h?q").unwrap(), url("h", 80, "/?q"));
        let https = Url::parse("https://example.org/").unwrap_err();
        assert_eq!(https.kind(), io::ErrorKind::Unsupported);
        assert!(https.to_string().contains("TLS"));
        assert!(Url::parse("ftp://h/").is_err());
        assert!(Url::parse("http://h:99999/").is_err());
        assert!(Url::parse("http:///x").is_err());
        assert!(Url::parse("http://h/a b").is_err());
    }

    /// Found by the `url` fuzz target: an authority with a colon outside brackets, or
    /// bytes after the closing bracket, parsed as a host that printed as another URL.
    #[test]
    fn a_host_is_what_the_url_prints() {
        for bad in [
            "http://a:b:80/",
            "http://[x]y]:1/",
            "http://[x]junk/",
            "http://[[x]/",
            "http://a]b/",
            "http://`\u{fffd}:\u{6e9}:]\u{fffd}p\u{fffd}tp:",
        ] {
            let err = Url::parse(bad).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad}");
        }
        for good in [
            "http://[::1]/",
            "http://[::1]:8080/x",
            "http://[fe80::1%25lo]:1/",
        ] {
            let u = Url::parse(good).unwrap();
            assert_eq!(Url::parse(&u.to_string()).unwrap(), u, "{good}");
        }
    }

    #[test]
    fn file_names() {
        let name = |s: &str| Url::parse(s).unwrap().file_name();
        assert_eq!(name("http://h/dir/file.tar.gz?x=1"), "file.tar.gz");
        assert_eq!(name("http://h/"), "index.html");
        assert_eq!(name("http://h/dir/"), "index.html");
        assert_eq!(name("http://h/a%20b"), "a b");
        assert_eq!(name("http://h/..%2F..%2Fetc"), ".._.._etc");
        assert_eq!(name("http://h/%2e%2e"), "index.html");
    }

    #[test]
    fn joins_locations() {
        let base = url("h", 8000, "/a/b/c?q");
        assert_eq!(base.join("/x").unwrap(), url("h", 8000, "/x"));
        assert_eq!(base.join("d").unwrap(), url("h", 8000, "/a/b/d"));
        assert_eq!(base.join("http://o/p").unwrap(), url("o", 80, "/p"));
        assert_eq!(base.join("//o:1/p").unwrap(), url("o", 1, "/p"));
        assert_eq!(url("::1", 80, "/").authority(), "[::1]");
        assert!(base.join("https://o/").is_err());
    }
}

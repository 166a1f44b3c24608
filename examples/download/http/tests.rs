//! Unit tests of the download example's URL parsing and response framing.

use super::*;

fn url(host: &str, port: u16, path: &str) -> Url {
    Url {
        https: false,
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
    let https = Url::parse("HTTPS://example.org/a").unwrap();
    assert!(https.https);
    assert_eq!(
        (https.port, https.authority()),
        (443, "example.org".to_string())
    );
    assert_eq!(https.to_string(), "https://example.org/a");
    let on_port = Url::parse("https://h:8443/").unwrap();
    assert_eq!(on_port.authority(), "h:8443");
    assert!(Url::parse("ftp://h/").is_err());
    assert!(Url::parse("http://h:99999/").is_err());
    assert!(Url::parse("http:///x").is_err());
    assert!(Url::parse("http://h/a b").is_err());
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
    let tls = base.join("https://o/").unwrap();
    assert!(tls.https && tls.port == 443);
    let tls_base = Url::parse("https://h/a/b").unwrap();
    assert_eq!(tls_base.join("c").unwrap().to_string(), "https://h/a/c");
    assert_eq!(
        tls_base.join("//o:1/p").unwrap().to_string(),
        "https://o:1/p"
    );
}

#[test]
fn framing() {
    let head = |status, headers: &[(&str, &str)]| Head {
        status,
        reason: String::new(),
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
    };
    let f = |h: Head| h.framing().unwrap();
    assert_eq!(
        f(head(200, &[("Content-Length", "12")])),
        Framing::Length(12)
    );
    assert_eq!(
        f(head(
            200,
            &[("content-length", "5"), ("Transfer-Encoding", "chunked")]
        )),
        Framing::Chunked
    );
    assert_eq!(f(head(200, &[])), Framing::Close);
    assert_eq!(f(head(204, &[])), Framing::Length(0));
    assert!(head(200, &[("Content-Length", "-1")]).framing().is_err());
    assert_eq!(head(302, &[("Location", "/x")]).redirect(), Some("/x"));
    assert_eq!(head(200, &[("Location", "/x")]).redirect(), None);
}

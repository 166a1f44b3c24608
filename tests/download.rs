//! The `download` example against a real server (`python3 -m http.server`) and against a
//! small in-test server that misbehaves in the ways a client must survive: chunked bodies,
//! truncated bodies, slow and stalled responses, malformed heads, bad chunk framing, 404,
//! redirects.
//!
//! The example binary is the one `cargo test` builds (`target/<profile>/examples/download`);
//! if it is missing (e.g. `cargo test --test download`), it is built first.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

fn example_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("test executable path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("tests live in target/<profile>/deps");
        let bin = profile_dir.join("examples/download");
        if !bin.exists() {
            let mut cargo = Command::new(env!("CARGO"));
            cargo
                .args(["build", "--example", "download"])
                .current_dir(env!("CARGO_MANIFEST_DIR"));
            if profile_dir.file_name().is_some_and(|n| n == "release") {
                cargo.arg("--release");
            }
            let status = cargo.status().expect("run cargo build");
            assert!(status.success(), "cargo build --example download failed");
        }
        assert!(bin.exists(), "no example binary at {}", bin.display());
        bin
    })
}

fn run_download(args: &[&str]) -> Output {
    let out = Command::new(example_binary())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run the download example");
    eprintln!(
        "--- stdout\n{}--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Deterministic bytes that differ at every offset within a large period.
fn content(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2654435761).max(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn no_part_files(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name();
        assert!(
            !name.to_string_lossy().ends_with(".part"),
            "{name:?} left behind"
        );
    }
}

/// A child process killed when the test ends.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `python3 -m http.server` serving `root` on 127.0.0.1, or `None` without python3.
fn python_server(root: &Path) -> Option<(KillOnDrop, u16)> {
    let port = free_port();
    let child = Command::new("python3")
        .args([
            "-m",
            "http.server",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .current_dir(root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let child = KillOnDrop(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "python3 http.server did not start"
        );
        thread::sleep(Duration::from_millis(50));
    }
    Some((child, port))
}

#[test]
fn downloads_from_python_http_server_byte_identical() {
    let served = tempfile::tempdir().unwrap();
    let files = [
        ("big.bin", content(6 << 20, 1)),
        ("small.txt", b"hello, world\n".to_vec()),
        ("empty", Vec::new()),
        ("odd size.dat", content(100_003, 2)),
    ];
    for (name, data) in &files {
        std::fs::write(served.path().join(name), data).unwrap();
    }
    std::fs::create_dir(served.path().join("nested")).unwrap();
    std::fs::write(served.path().join("nested/inner.bin"), content(70_000, 3)).unwrap();
    let Some((_server, port)) = python_server(served.path()) else {
        eprintln!("skipped: python3 is not available to run http.server");
        return;
    };
    let out_dir = tempfile::tempdir().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let urls = [
        format!("{base}/big.bin"),
        format!("{base}/small.txt"),
        format!("{base}/empty"),
        format!("{base}/odd%20size.dat"),
        format!("{base}/nested/inner.bin"),
    ];
    let mut args = vec!["-j", "3", "-o", out_dir.path().to_str().unwrap()];
    args.extend(urls.iter().map(String::as_str));
    let out = run_download(&args);
    assert!(out.status.success(), "exit status {:?}", out.status);
    for (name, data) in &files {
        let got = std::fs::read(out_dir.path().join(name)).unwrap();
        assert!(&got == data, "{name} differs from what was served");
    }
    let inner = std::fs::read(out_dir.path().join("inner.bin")).unwrap();
    assert!(inner == content(70_000, 3), "inner.bin differs");
    no_part_files(out_dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("big.bin") && stdout.contains("total"),
        "no summary table"
    );
    assert!(
        stdout.contains(&(6usize << 20).to_string()),
        "summary lacks big.bin's size"
    );
}

/// What the in-test server answers on a path.
fn respond(path: &str, stream: &mut impl Write) -> std::io::Result<()> {
    let body = |n: u32| content(50_000, n);
    match path {
        "/chunked.bin" => {
            stream.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")?;
            for (i, piece) in body(10).chunks(7001).enumerate() {
                let ext = if i % 2 == 0 { ";name=value" } else { "" };
                write!(stream, "{:X}{ext}\r\n", piece.len())?;
                stream.write_all(piece)?;
                stream.write_all(b"\r\n")?;
            }
            stream.write_all(b"0\r\nX-Trailer: yes\r\n\r\n")
        }
        "/slow.bin" => {
            let data = body(11);
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                data.len()
            )?;
            for piece in data.chunks(5000) {
                stream.write_all(piece)?;
                stream.flush()?;
                thread::sleep(Duration::from_millis(30));
            }
            Ok(())
        }
        "/close.bin" => {
            stream.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")?;
            stream.write_all(&body(12))
        }
        "/redirect" => stream.write_all(
            b"HTTP/1.1 302 Found\r\nLocation: /chunked.bin\r\nContent-Length: 0\r\n\r\n",
        ),
        "/loop" => {
            stream.write_all(b"HTTP/1.1 301 Moved\r\nLocation: /loop\r\nContent-Length: 0\r\n\r\n")
        }
        "/truncated.bin" => {
            stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")?;
            stream.write_all(&body(13)[..30_000])
        }
        "/stall.bin" => {
            stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789")?;
            stream.flush()?;
            thread::sleep(Duration::from_secs(10));
            Ok(())
        }
        "/malformed.bin" => stream.write_all(b"HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\nhi"),
        "/badchunk.bin" => stream.write_all(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nxx\r\n",
        ),
        _ => stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found"),
    }
}

fn handle(mut stream: TcpStream) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split(' ').nth(1).unwrap_or("/").to_string();
    let _ = respond(&path, &mut stream);
}

/// A thread-per-connection server on 127.0.0.1; returns its port.
fn test_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || handle(stream));
        }
    });
    port
}

#[test]
fn survives_misbehaving_servers_and_reports_each_failure() {
    let port = test_server();
    let out_dir = tempfile::tempdir().unwrap();
    let url = |p: &str| format!("http://127.0.0.1:{port}{p}");
    let good = ["/chunked.bin", "/slow.bin", "/close.bin"];
    let bad = [
        ("/truncated.bin", "shorter than Content-Length"),
        ("/stall.bin", "timed out"),
        ("/malformed.bin", "malformed response head"),
        ("/badchunk.bin", "bad chunk framing"),
        ("/missing.bin", "404"),
        ("/loop", "redirects"),
    ];
    let mut urls: Vec<String> = good.iter().map(|p| url(p)).collect();
    urls.extend(bad.iter().map(|(p, _)| url(p)));
    urls.push(url("/redirect"));
    urls.push(format!("http://127.0.0.1:{}/refused.bin", free_port()));
    let mut args = vec![
        "-j",
        "4",
        "--timeout",
        "2",
        "-o",
        out_dir.path().to_str().unwrap(),
    ];
    args.extend(urls.iter().map(String::as_str));
    let out = run_download(&args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "some URLs failed: exit status 1"
    );

    let stderr = String::from_utf8_lossy(&out.stderr);
    for (path, reason) in bad {
        let line = stderr
            .lines()
            .find(|l| l.starts_with("error: ") && l.contains(&url(path)))
            .unwrap_or_else(|| panic!("no error line names {path}"));
        assert!(line.contains(reason), "{path}: {line:?} lacks {reason:?}");
        let name = path.trim_start_matches('/');
        assert!(!out_dir.path().join(name).exists(), "{name} must not exist");
    }
    let refused = stderr
        .lines()
        .find(|l| l.contains("refused.bin"))
        .expect("refused URL reported");
    assert!(refused.to_lowercase().contains("refused"), "{refused:?}");

    assert_eq!(
        std::fs::read(out_dir.path().join("chunked.bin")).unwrap(),
        content(50_000, 10)
    );
    assert_eq!(
        std::fs::read(out_dir.path().join("slow.bin")).unwrap(),
        content(50_000, 11)
    );
    assert_eq!(
        std::fs::read(out_dir.path().join("close.bin")).unwrap(),
        content(50_000, 12)
    );
    assert_eq!(
        std::fs::read(out_dir.path().join("redirect")).unwrap(),
        content(50_000, 10)
    );
    no_part_files(out_dir.path());
}

/// A private CA and a certificate it signed for 127.0.0.1 and localhost: the CA's PEM and
/// the server's configuration.
fn private_ca() -> (String, Arc<rustls::ServerConfig>) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
    let leaf = CertificateParams::new(names)
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone(), ca.der().clone()], key.into())
        .unwrap();
    (ca.pem(), Arc::new(config))
}

/// A thread-per-connection HTTPS server on 127.0.0.1 answering as `respond` does (a
/// close_notify ends each response); returns its port.
fn tls_server(config: Arc<rustls::ServerConfig>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let config = config.clone();
            thread::spawn(move || {
                let Ok(conn) = rustls::ServerConnection::new(config) else {
                    return;
                };
                let mut tls = rustls::StreamOwned::new(conn, stream);
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match tls.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => return, // e.g. the client refused the certificate
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let path = head.split(' ').nth(1).unwrap_or("/").to_string();
                let _ = respond(&path, &mut tls);
                tls.conn.send_close_notify();
                let _ = tls.flush();
            });
        }
    });
    port
}

#[test]
fn downloads_over_https_trusting_a_private_ca() {
    let (ca_pem, config) = private_ca();
    let port = tls_server(config);
    let out_dir = tempfile::tempdir().unwrap();
    let ca_file = out_dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let dir = out_dir.path().join("out");
    let urls = [
        format!("https://127.0.0.1:{port}/chunked.bin"),
        format!("https://localhost:{port}/close.bin"),
    ];
    let out = run_download(&[
        "--cacert",
        ca_file.to_str().unwrap(),
        "-o",
        dir.to_str().unwrap(),
        &urls[0],
        &urls[1],
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        std::fs::read(dir.join("chunked.bin")).unwrap(),
        content(50_000, 10)
    );
    assert_eq!(
        std::fs::read(dir.join("close.bin")).unwrap(),
        content(50_000, 12)
    );
    no_part_files(&dir);
}

#[test]
fn https_refuses_a_certificate_it_does_not_trust() {
    let (_ca_pem, config) = private_ca();
    let port = tls_server(config);
    let out_dir = tempfile::tempdir().unwrap();
    let url = format!("https://127.0.0.1:{port}/close.bin");
    // Mozilla's roots do not include the test's CA.
    let out = run_download(&["-o", out_dir.path().to_str().unwrap(), &url]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&url) && stderr.contains("certificate"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_dir(out_dir.path()).unwrap().count(), 0);
    // A --cacert file that holds no certificate is a usage error.
    let empty = out_dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let out = run_download(&["--cacert", empty.to_str().unwrap(), &url]);
    assert_eq!(out.status.code(), Some(2));
    std::fs::remove_file(&empty).unwrap();
}

#[test]
fn usage_errors_exit_with_status_2() {
    assert_eq!(run_download(&[]).status.code(), Some(2), "no URL");
    assert_eq!(
        run_download(&["-j", "0", "http://127.0.0.1:1/"])
            .status
            .code(),
        Some(2)
    );
}

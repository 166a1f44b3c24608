//! `https://` for the download example: rustls's client state machine driven over
//! proactor's owned-buffer `TcpStream` (records in and out through `read_tls` /
//! `write_tls`, no runtime bridge needed), and the trust roots: Mozilla's set from
//! webpki-roots, or only the CA certificates of a PEM file (`--cacert FILE`, as curl's).

use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Arc;

use proactor::net::TcpStream;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};

/// Size of each socket read of TLS records.
const RECORDS: usize = 32 * 1024;

/// The client configuration every https:// download shares: webpki-roots' set, or only
/// the certificates of `cacert`.
pub fn client_config(cacert: Option<&Path>) -> io::Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    match cacert {
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        Some(path) => {
            let bad = |e: &dyn std::fmt::Display| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("--cacert {}: {e}", path.display()),
                )
            };
            let certs = CertificateDer::pem_file_iter(path).map_err(|e| bad(&e))?;
            for cert in certs {
                roots.add(cert.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
            }
            if roots.is_empty() {
                return Err(bad(&"no certificate in the file"));
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A TLS connection over a proactor `TcpStream`.
pub struct TlsStream {
    tcp: TcpStream,
    conn: ClientConnection,
    /// TLS bytes read from the socket; those from `fed` on are not given to rustls yet.
    records: Vec<u8>,
    fed: usize,
}

fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("TLS: {e}"))
}

impl TlsStream {
    /// Runs the handshake with `host` (its name is checked against the certificate).
    pub async fn connect(
        tcp: TcpStream,
        host: &str,
        config: &Arc<ClientConfig>,
    ) -> io::Result<TlsStream> {
        let name = ServerName::try_from(host.to_string()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad TLS server name {host:?}"),
            )
        })?;
        let conn = ClientConnection::new(config.clone(), name).map_err(tls_error)?;
        let mut tls = TlsStream {
            tcp,
            conn,
            records: Vec::with_capacity(RECORDS),
            fed: 0,
        };
        while tls.conn.is_handshaking() {
            tls.send_records().await?;
            if tls.conn.wants_read() && tls.receive_records().await? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "TLS: the server closed the connection during the handshake",
                ));
            }
        }
        tls.send_records().await?;
        Ok(tls)
    }

    /// Writes all of `data` as TLS records.
    pub async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        self.conn.writer().write_all(data)?;
        self.send_records().await
    }

    /// Reads decrypted bytes into `out`; `Ok(0)` once the server closed the connection
    /// cleanly (close_notify). A close without close_notify is `UnexpectedEof` (a
    /// truncation attack could look like that), which a body framed by its length or by
    /// chunks detects anyway.
    pub async fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.conn.reader().read(out) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if self.receive_records().await? == 0 {
                // The reader now reports how the stream ended (UnexpectedEof without
                // close_notify).
                return self.conn.reader().read(out);
            }
            self.send_records().await?; // alerts, key updates
        }
    }

    /// Sends what rustls has queued.
    async fn send_records(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            let mut out = Vec::new();
            self.conn.write_tls(&mut out)?;
            let (res, _) = self.tcp.write_all(out).await;
            res?;
        }
        Ok(())
    }

    /// Gives rustls more TLS bytes (what the last socket read left, else a new read) and
    /// processes them; how many it took (0: the socket reached end of stream). Called only
    /// when no plaintext waits, so rustls always has room for them.
    async fn receive_records(&mut self) -> io::Result<usize> {
        if self.fed == self.records.len() {
            let mut buf = std::mem::take(&mut self.records);
            buf.clear();
            let (res, buf) = self.tcp.read(buf).await;
            self.records = buf;
            self.fed = 0;
            if res? == 0 {
                self.conn.read_tls(&mut io::empty())?; // tells rustls the transport ended
                self.conn.process_new_packets().map_err(tls_error)?;
                return Ok(0);
            }
        }
        let mut rest = &self.records[self.fed..];
        let took = self.conn.read_tls(&mut rest)?;
        if took == 0 {
            return Err(io::Error::other("TLS: the record layer took no bytes"));
        }
        self.fed += took;
        self.conn.process_new_packets().map_err(tls_error)?;
        Ok(took)
    }
}

//! HTTPS on the remote's own port: browsers give a page the camera and the microphone (the
//! calibration page needs both) only over a secure connection.
//!
//! The certificate is playhead's own, made on first start with rcgen (names: `localhost`,
//! `127.0.0.1`, the machine's host name and `HOST.local`) and kept in the state folder
//! (`remote-cert.pem`, `remote-key.pem`, the key readable by its user only) so that a phone
//! that accepted it once keeps trusting it across restarts; a show file may name its own
//! (`remote_cert`, `remote_key`). Its SHA-256 fingerprint is logged, shown by `--check` and
//! in `/api/status` (`remote_cert_sha256`), so the operator can compare it with what the
//! phone's browser shows. rustls serves it; no cryptography is written here.
//!
//! A connection whose first byte is 0x16 (a TLS handshake record) is TLS; any other is plain
//! HTTP: [`Conn`] is either, for the code that serves the routes.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConnection;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;

/// The first byte of a TLS connection: a handshake record.
pub const HANDSHAKE_RECORD: u8 = 0x16;

/// The file names of the kept certificate and key, in the state folder.
pub const CERT_FILE: &str = "remote-cert.pem";
pub const KEY_FILE: &str = "remote-key.pem";

/// The server's certificate and key, ready to serve.
pub struct Tls {
    pub config: Arc<rustls::ServerConfig>,
    /// SHA-256 of the certificate, as browsers show it (`AB:CD:…`).
    pub fingerprint: String,
    /// Where it came from, for the log.
    pub origin: String,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("fingerprint", &self.fingerprint)
            .field("origin", &self.origin)
            .finish()
    }
}

/// The certificate to serve: the named pair (`remote_cert`, `remote_key`) when given, else
/// the one kept in the state folder (made now when there is none, or when the kept one cannot
/// be read; a warning says so). An error names the file that cannot be used.
pub fn load_or_make(named: Option<(&Path, &Path)>) -> Result<Tls, String> {
    if let Some((cert, key)) = named {
        return load(cert, key).map(|mut t| {
            t.origin = format!("{} (the show's)", cert.display());
            t
        });
    }
    let Some(dir) = crate::state_dir::path() else {
        let (cert, key) = make()?;
        return build(
            cert,
            key,
            "made for this run (no state folder to keep it in)".into(),
        );
    };
    let (cert_path, key_path) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
    if cert_path.exists() || key_path.exists() {
        match load(&cert_path, &key_path) {
            Ok(mut t) => {
                t.origin = format!("{} (kept)", cert_path.display());
                return Ok(t);
            }
            Err(e) => log::warn!("remote: the kept certificate cannot be used ({e}); making a new one: phones must accept it again"),
        }
    }
    let (cert, key) = make()?;
    keep(&dir, &cert_path, &key_path, &cert, &key)?;
    build(cert, key, format!("{} (made now)", cert_path.display()))
}

/// A new self-signed certificate and its key, as PEM.
fn make() -> Result<(String, String), String> {
    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    if let Some(host) = host_name() {
        names.push(format!("{host}.local"));
        names.push(host);
    }
    let rcgen::CertifiedKey { cert, key_pair } = rcgen::generate_simple_self_signed(names)
        .map_err(|e| format!("cannot make the remote's certificate: {e}"))?;
    Ok((cert.pem(), key_pair.serialize_pem()))
}

fn keep(
    dir: &Path,
    cert_path: &Path,
    key_path: &Path,
    cert: &str,
    key: &str,
) -> Result<(), String> {
    let failed = |p: &Path, e: std::io::Error| {
        format!(
            "cannot keep the remote's certificate in {}: {e}",
            p.display()
        )
    };
    crate::state_dir::ensure(dir).map_err(|e| failed(dir, e))?;
    crate::state_dir::write_atomic(key_path, key.as_bytes()).map_err(|e| failed(key_path, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(key_path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| failed(key_path, e))?;
    }
    crate::state_dir::write_atomic(cert_path, cert.as_bytes()).map_err(|e| failed(cert_path, e))
}

fn load(cert: &Path, key: &Path) -> Result<Tls, String> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()));
    let (cert_pem, key_pem) = (read(cert)?, read(key)?);
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: not a PEM certificate: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate in it", cert.display()));
    }
    let key_der = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| format!("{}: not a PEM private key: {e}", key.display()))?;
    config(certs, key_der, cert).map_err(|e| format!("{e} (key {})", key.display()))
}

fn build(cert: String, key: String, origin: String) -> Result<Tls, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("the certificate just made: {e}"))?;
    let key_der = PrivateKeyDer::from_pem_slice(key.as_bytes())
        .map_err(|e| format!("the key just made: {e}"))?;
    let mut tls = config(certs, key_der, Path::new("the certificate just made"))?;
    tls.origin = origin;
    Ok(tls)
}

fn config(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    named: &Path,
) -> Result<Tls, String> {
    let fingerprint = fingerprint(&certs[0]);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            format!(
                "{}: the key does not go with the certificate: {e}",
                named.display()
            )
        })?;
    Ok(Tls {
        config: Arc::new(config),
        fingerprint,
        origin: String::new(),
    })
}

/// SHA-256 of a certificate, upper-case hex pairs joined by colons, as browsers show it.
pub fn fingerprint(cert: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, cert);
    digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The machine's host name, when it has a usable one.
fn host_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    ok.then(|| name.to_string())
}

/// The certificate the command line (or the show file, merged into it) names, else
/// playhead's own ([`load_or_make`]).
pub fn for_cli(cli: &crate::cli::Cli) -> Result<Tls, String> {
    match (&cli.remote_cert, &cli.remote_key) {
        (Some(cert), Some(key)) => load_or_make(Some((cert, key))),
        _ => load_or_make(None),
    }
}

/// A connection to the remote: plain HTTP or TLS.
pub enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsConn>),
}

/// A TLS connection and its socket. Blocking while the request is read and answered; a page
/// that stays for live updates is switched to non-blocking, and then what the socket does not
/// take at once waits in the connection's own buffer.
pub struct TlsConn {
    conn: ServerConnection,
    sock: TcpStream,
    nonblocking: bool,
}

impl Conn {
    /// `sock` as TLS when its first byte says so (and a certificate is there), else plain.
    /// `None` when the client sent nothing in time or closed.
    pub fn accept(sock: TcpStream, tls: Option<&Tls>) -> Option<Conn> {
        let mut first = [0u8; 1];
        match sock.peek(&mut first) {
            Ok(1) => {}
            _ => return None,
        }
        match tls {
            Some(tls) if first[0] == HANDSHAKE_RECORD => {
                let conn = ServerConnection::new(tls.config.clone()).ok()?;
                Some(Conn::Tls(Box::new(TlsConn {
                    conn,
                    sock,
                    nonblocking: false,
                })))
            }
            _ => Some(Conn::Plain(sock)),
        }
    }

    pub fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) => s,
            Conn::Tls(t) => &t.sock,
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self, Conn::Tls(_))
    }

    pub fn set_nonblocking(&mut self, on: bool) -> std::io::Result<()> {
        match self {
            Conn::Plain(s) => s.set_nonblocking(on),
            Conn::Tls(t) => {
                t.nonblocking = on;
                t.sock.set_nonblocking(on)
            }
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(t) => rustls::Stream::new(&mut t.conn, &mut t.sock).read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(t) if !t.nonblocking => {
                rustls::Stream::new(&mut t.conn, &mut t.sock).write(buf)
            }
            Conn::Tls(t) => {
                t.push()?;
                let n = t.conn.writer().write(buf)?;
                t.push()?;
                Ok(n)
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(t) if !t.nonblocking => rustls::Stream::new(&mut t.conn, &mut t.sock).flush(),
            Conn::Tls(t) => t.push(),
        }
    }
}

impl TlsConn {
    /// Writes what the socket takes now of the encrypted bytes waiting.
    fn push(&mut self) -> std::io::Result<()> {
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut self.sock) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

impl Drop for TlsConn {
    fn drop(&mut self) {
        // A clean close; nothing waits for it.
        self.conn.send_close_notify();
        let _ = self.sock.set_nonblocking(true);
        let _ = self.push();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fingerprint_reads_as_browsers_show_it() {
        let f = fingerprint(b"abc");
        assert_eq!(
            f,
            "BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD"
        );
    }

    #[test]
    fn a_made_certificate_is_kept_and_the_same_after_a_restart() {
        let dir = std::env::temp_dir().join(format!("playhead-tls-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (cert, key) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
        let (c, k) = make().unwrap();
        keep(&dir, &cert, &key, &c, &k).unwrap();
        let first = load(&cert, &key).unwrap();
        let again = load(&cert, &key).unwrap();
        assert_eq!(first.fingerprint, again.fingerprint);
        assert_eq!(first.fingerprint.len(), 32 * 3 - 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&key).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A key that is not the certificate's: refused, naming the file.
        let (_, other) = make().unwrap();
        std::fs::write(&key, other).unwrap();
        let e = load(&cert, &key).unwrap_err();
        assert!(e.contains("does not go with"), "{e}");
        std::fs::write(&cert, "rubbish").unwrap();
        let e = load(&cert, &key).unwrap_err();
        assert!(e.contains("remote-cert.pem"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

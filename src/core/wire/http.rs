//! The status page's HTTP request heads: what the remote reads before it answers.
//!
//! A request head is read into a buffer of at most [`MAX_HEAD_BYTES`] and parsed with
//! httparse (no recursion, no allocation of its own) into at most [`MAX_HEADERS`] headers; only
//! the method, the path and a bearer token are kept. The remote needs no body. A head that is
//! not complete within the bound is refused, not waited for; the time bound (the whole head
//! within a few seconds) is the server's.

/// The largest request head read, in bytes.
pub const MAX_HEAD_BYTES: usize = 8192;
/// The most headers a request may have.
pub const MAX_HEADERS: usize = 32;
/// The longest path kept, in bytes (the API's paths are short).
pub const MAX_PATH_BYTES: usize = 1024;

/// What was read of a request head so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Head {
    /// A complete head.
    Complete(RequestHead),
    /// Not complete yet, and still within [`MAX_HEAD_BYTES`]: read more.
    Partial,
    /// Not HTTP, too long, too many headers: answer 400 and close.
    Bad,
}

/// A request head, as far as the remote needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead {
    pub method: String,
    /// The path without its query.
    pub path: String,
    /// The token of an `Authorization: Bearer TOKEN` header.
    pub bearer: Option<String>,
}

/// Parses the bytes received so far. Never panics, whatever the bytes; the work is linear in
/// their length.
pub fn parse_head(buf: &[u8]) -> Head {
    if buf.len() > MAX_HEAD_BYTES {
        // Only the bound's worth is looked at: a complete head must fit in it.
        return match parse_head(&buf[..MAX_HEAD_BYTES]) {
            Head::Complete(head) => Head::Complete(head),
            _ => Head::Bad,
        };
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(_)) => {
            let (Some(method), Some(path)) = (req.method, req.path) else {
                return Head::Bad;
            };
            let path = path.split('?').next().unwrap_or("");
            if path.len() > MAX_PATH_BYTES {
                return Head::Bad;
            }
            let bearer = req
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("authorization"))
                .and_then(|h| std::str::from_utf8(h.value).ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(|t| t.trim().to_string());
            Head::Complete(RequestHead {
                method: method.to_string(),
                path: path.to_string(),
                bearer,
            })
        }
        Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD_BYTES => Head::Partial,
        _ => Head::Bad,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_request_gives_its_method_path_and_token() {
        let head = parse_head(
            b"POST /api/song/2?x=1 HTTP/1.1\r\nHost: a\r\nauthorization: Bearer  s3cret \r\n\r\n",
        );
        assert_eq!(
            head,
            Head::Complete(RequestHead {
                method: "POST".into(),
                path: "/api/song/2".into(),
                bearer: Some("s3cret".into()),
            })
        );
        assert_eq!(parse_head(b"GET / HTTP/1.1\r\nHost: a\r\n"), Head::Partial);
        assert_eq!(parse_head(b"\x16\x03\x01\x02\x00"), Head::Bad);
    }

    #[test]
    fn heads_past_the_bounds_are_refused() {
        let mut long = b"GET / HTTP/1.1\r\nX: ".to_vec();
        long.resize(MAX_HEAD_BYTES, b'a');
        assert_eq!(parse_head(&long), Head::Bad, "no end within 8 KiB");
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: 1\r\n")).collect();
        assert_eq!(
            parse_head(format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes()),
            Head::Bad
        );
        let path = "/".repeat(MAX_PATH_BYTES + 1);
        assert_eq!(
            parse_head(format!("GET {path} HTTP/1.1\r\n\r\n").as_bytes()),
            Head::Bad
        );
        // A complete head followed by more bytes than the bound (a body) is still a head.
        let mut with_body = b"GET /api/status HTTP/1.1\r\n\r\n".to_vec();
        with_body.resize(MAX_HEAD_BYTES * 2, b'x');
        assert!(matches!(parse_head(&with_body), Head::Complete(_)));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5000))]
        /// Random bytes: no panic, and a complete head keeps to the bounds.
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
            if let Head::Complete(h) = parse_head(&bytes) {
                prop_assert!(h.path.len() <= MAX_PATH_BYTES);
            }
        }

        /// Requests cut at any point are partial or complete, never a panic; damaged ones are
        /// anything but a panic.
        #[test]
        fn cut_and_damaged_requests(
            path in "/[a-z0-9/._%?=-]{0,40}",
            token in "[ -~]{0,20}",
            cut in any::<usize>(),
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        ) {
            let full = format!("POST {path} HTTP/1.1\r\nAuthorization: Bearer {token}\r\n\r\n");
            let bytes = full.as_bytes();
            let n = cut % (bytes.len() + 1);
            let head = parse_head(&bytes[..n]);
            if n < bytes.len() {
                prop_assert_eq!(head, Head::Partial);
            } else {
                let Head::Complete(h) = head else { panic!("{full:?}") };
                prop_assert_eq!(h.method, "POST");
                if !token.trim().is_empty() {
                    prop_assert_eq!(h.bearer.as_deref(), Some(token.trim()));
                }
            }
            let mut damaged = bytes.to_vec();
            for (at, v) in flips {
                let len = damaged.len();
                damaged[at % len] = v;
            }
            let _ = parse_head(&damaged);
        }
    }
}

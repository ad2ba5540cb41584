//! Arbitrary bytes as the status page's request heads (`playhead_core::wire::http`), whole and
//! arriving in pieces as the server reads them: nothing may panic, and a complete head keeps
//! to the bounds.
//!
//! Run with `cargo +nightly fuzz run http` from the repository root.

#![no_main]

use libfuzzer_sys::fuzz_target;
use playhead_core::wire::http::{parse_head, Head, MAX_HEAD_BYTES, MAX_PATH_BYTES};

fuzz_target!(|data: &[u8]| {
    if let Head::Complete(head) = parse_head(data) {
        assert!(head.path.len() <= MAX_PATH_BYTES);
        assert!(!head.path.contains('?'));
    }
    // As the server reads: 1 KiB at a time, parsed after each, until complete or refused.
    let mut buf = Vec::new();
    for chunk in data.chunks(1024) {
        buf.extend_from_slice(chunk);
        match parse_head(&buf) {
            Head::Partial => assert!(buf.len() < MAX_HEAD_BYTES),
            Head::Complete(_) | Head::Bad => break,
        }
    }
});

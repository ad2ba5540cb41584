//! OSC datagrams, checked before rosc decodes them.
//!
//! rosc's decoder calls itself once per nested bundle: a single UDP datagram of 43 KB holding
//! bundles nested 2,150 deep overflows the receiving thread's stack before any check on the
//! decoded packet can run, and a stack overflow aborts the whole process. So [`decode`] first
//! walks the datagram's bundle structure with a loop and an explicit list (no recursion),
//! exactly as rosc will read it, and refuses a datagram whose bundles nest deeper than
//! [`MAX_BUNDLE_DEPTH`] or whose messages nest arrays (`[` in the type tags) deeper than
//! [`MAX_ARRAY_DEPTH`]. rosc reads arrays with a loop, but the nested values it builds are
//! dropped and printed recursively. Only then does rosc see the bytes, and it recurses at
//! most [`MAX_BUNDLE_DEPTH`] times. The walk reads each byte of the datagram at most once per
//! level of nesting.

pub use rosc;
pub use rosc::{OscArray, OscBundle, OscMessage, OscPacket, OscType};

/// Bundles nested deeper than this are refused: a bundle holding messages is depth 1.
pub const MAX_BUNDLE_DEPTH: usize = 8;
/// Arrays in a message's arguments nested deeper than this are refused.
pub const MAX_ARRAY_DEPTH: usize = 8;
/// The largest datagram decoded, in bytes (a UDP datagram carries at most 65,507).
pub const MAX_DATAGRAM_BYTES: usize = 65_536;

/// Why a datagram was not decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Larger than [`MAX_DATAGRAM_BYTES`].
    TooLarge(usize),
    /// Bundles nested deeper than [`MAX_BUNDLE_DEPTH`].
    BundlesTooDeep,
    /// Arrays nested deeper than [`MAX_ARRAY_DEPTH`].
    ArraysTooDeep,
    /// Not OSC: rosc's reason.
    Undecodable(String),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::TooLarge(n) => write!(
                f,
                "{n} bytes, more than an OSC datagram holds ({MAX_DATAGRAM_BYTES})"
            ),
            DecodeError::BundlesTooDeep => {
                write!(f, "bundles nested deeper than {MAX_BUNDLE_DEPTH}")
            }
            DecodeError::ArraysTooDeep => write!(f, "arrays nested deeper than {MAX_ARRAY_DEPTH}"),
            DecodeError::Undecodable(why) => write!(f, "not OSC: {why}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Decodes one UDP datagram, after [`check_nesting`]. Never panics and never recurses more
/// than [`MAX_BUNDLE_DEPTH`] levels, whatever the bytes.
pub fn decode(bytes: &[u8]) -> Result<OscPacket, DecodeError> {
    check_nesting(bytes)?;
    rosc::decoder::decode_udp(bytes)
        .map(|(_, packet)| packet)
        .map_err(|e| DecodeError::Undecodable(e.to_string()))
}

/// The bundle tag that starts a bundle, with its terminating zero.
const BUNDLE_TAG: &[u8] = b"#bundle\0";

/// Walks the datagram's structure as rosc's decoder will, with a loop: refuses it when
/// bundles or arrays nest too deep. Says nothing about whether the rest is valid OSC (rosc
/// decides that); it may refuse a little more than rosc would reach (it also looks past an
/// element rosc would stop at), never less.
pub fn check_nesting(bytes: &[u8]) -> Result<(), DecodeError> {
    if bytes.len() > MAX_DATAGRAM_BYTES {
        return Err(DecodeError::TooLarge(bytes.len()));
    }
    // Packets still to look at: where each starts and ends in `bytes`, and how many bundles
    // hold it.
    let mut todo: Vec<(usize, usize, usize)> = vec![(0, bytes.len(), 0)];
    while let Some((start, end, depth)) = todo.pop() {
        if !bytes[start..end].starts_with(BUNDLE_TAG) {
            check_message(bytes, start, end)?;
            continue;
        }
        if depth >= MAX_BUNDLE_DEPTH {
            return Err(DecodeError::BundlesTooDeep);
        }
        // The tag, padding to a 4-byte boundary of the datagram (rosc pads relative to the
        // whole datagram), the 8-byte time tag, then elements: a 32-bit size and that many
        // bytes, each a packet of its own.
        let mut at = start + BUNDLE_TAG.len();
        at += padding(at);
        at += 8;
        while at.checked_add(4).is_some_and(|e| e <= end) {
            let size = u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
            at += 4;
            let Ok(size) = usize::try_from(size) else {
                break;
            };
            if size > end - at {
                // rosc stops at an element longer than what is left.
                break;
            }
            todo.push((at, at + size, depth + 1));
            at += size;
        }
    }
    Ok(())
}

/// Bytes of padding after offset `at` of the datagram, to the next multiple of 4.
fn padding(at: usize) -> usize {
    (4 - at % 4) % 4
}

/// A message: its address, then its type tags, where `[` opens an array and `]` closes one.
fn check_message(bytes: &[u8], start: usize, end: usize) -> Result<(), DecodeError> {
    let packet = &bytes[start..end];
    let Some(address_len) = packet.iter().position(|&b| b == 0) else {
        return Ok(());
    };
    let tags_start = start + address_len + 1;
    let tags_start = tags_start + padding(tags_start);
    if tags_start >= end {
        return Ok(());
    }
    let tags = &bytes[tags_start..end];
    let tags = match tags.iter().position(|&b| b == 0) {
        Some(n) => &tags[..n],
        // rosc needs the terminating zero; without it no argument is read. Checked anyway.
        None => tags,
    };
    let mut depth = 0usize;
    for &t in tags {
        match t {
            b'[' => {
                depth += 1;
                if depth > MAX_ARRAY_DEPTH {
                    return Err(DecodeError::ArraysTooDeep);
                }
            }
            b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// How deep bundles nest in a decoded packet (a message alone is 0), counted with a loop.
pub fn bundle_depth(packet: &OscPacket) -> usize {
    let mut deepest = 0;
    let mut todo = vec![(packet, 0usize)];
    while let Some((p, depth)) = todo.pop() {
        if let OscPacket::Bundle(b) = p {
            deepest = deepest.max(depth + 1);
            todo.extend(b.content.iter().map(|c| (c, depth + 1)));
        }
    }
    deepest
}

/// How deep arrays nest in a message's arguments, counted with a loop.
pub fn array_depth(args: &[OscType]) -> usize {
    let mut deepest = 0;
    let mut todo: Vec<(&OscType, usize)> = args.iter().map(|a| (a, 0)).collect();
    while let Some((a, depth)) = todo.pop() {
        if let OscType::Array(array) = a {
            deepest = deepest.max(depth + 1);
            todo.extend(array.content.iter().map(|c| (c, depth + 1)));
        }
    }
    deepest
}

/// Bytes of a bundle holding `inner`, built by hand (rosc's encoder recurses too).
pub fn wrap_in_bundle(inner: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(inner.len() + 20);
    out.extend_from_slice(BUNDLE_TAG);
    out.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]);
    out.extend_from_slice(&u32::try_from(inner.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(inner);
    out
}

/// The bytes of `message` nested in `depth` bundles, built with a loop: what the attack on
/// the OSC port sends (2,150 deep is 43 KB).
pub fn nested_bundles(message: &[u8], depth: usize) -> Vec<u8> {
    // Built from the inside out, in one buffer: each level's 20-byte header goes in front.
    let mut headers = Vec::with_capacity(depth * 20);
    let mut size = message.len();
    for _ in 0..depth {
        let mut h = Vec::with_capacity(20);
        h.extend_from_slice(BUNDLE_TAG);
        h.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]);
        h.extend_from_slice(&u32::try_from(size).unwrap_or(u32::MAX).to_be_bytes());
        size += h.len();
        headers.push(h);
    }
    let mut out = Vec::with_capacity(size);
    for h in headers.iter().rev() {
        out.extend_from_slice(h);
    }
    out.extend_from_slice(message);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn message(addr: &str, args: Vec<OscType>) -> Vec<u8> {
        rosc::encoder::encode(&OscPacket::Message(OscMessage {
            addr: addr.into(),
            args,
        }))
        .unwrap()
    }

    /// A message whose type tags are `tags` (after the comma), with no argument data.
    fn tagged(tags: &str) -> Vec<u8> {
        let mut out = b"/playhead/play\0\0".to_vec();
        out.push(b',');
        out.extend_from_slice(tags.as_bytes());
        out.push(0);
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
        out
    }

    /// Runs `f` on a thread with the stack a spawned thread gets by default (2 MiB): the
    /// stack the program's OSC thread has.
    fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(f)
            .unwrap()
            .join()
            .unwrap()
    }

    #[test]
    fn the_attack_datagram_is_refused_without_recursing() {
        let play = message("/playhead/play", vec![]);
        let attack = nested_bundles(&play, 2150);
        assert!(
            attack.len() > 40_000 && attack.len() < 65_507,
            "{}",
            attack.len()
        );
        let got = on_small_stack(move || decode(&attack));
        assert_eq!(got, Err(DecodeError::BundlesTooDeep));
        // As deep as fits in a datagram.
        let deepest = nested_bundles(&play, (65_507 - play.len()) / 20);
        assert_eq!(
            on_small_stack(move || decode(&deepest)),
            Err(DecodeError::BundlesTooDeep)
        );
    }

    #[test]
    fn bundles_up_to_the_limit_decode() {
        let play = message("/playhead/play", vec![]);
        let ok = nested_bundles(&play, MAX_BUNDLE_DEPTH);
        let packet = decode(&ok).expect("8 bundles deep is fine");
        assert_eq!(bundle_depth(&packet), MAX_BUNDLE_DEPTH);
        let too_deep = nested_bundles(&play, MAX_BUNDLE_DEPTH + 1);
        assert_eq!(decode(&too_deep), Err(DecodeError::BundlesTooDeep));
        // Our hand-built bundle is what rosc's encoder makes.
        let encoded = rosc::encoder::encode(&OscPacket::Bundle(OscBundle {
            timetag: rosc::OscTime::from((0, 1)),
            content: vec![OscPacket::Message(OscMessage {
                addr: "/playhead/play".into(),
                args: vec![],
            })],
        }))
        .unwrap();
        assert_eq!(encoded, wrap_in_bundle(&play));
    }

    #[test]
    fn deeply_nested_arrays_are_refused() {
        let ok = tagged(&format!("{}{}", "[".repeat(8), "]".repeat(8)));
        let packet = decode(&ok).expect("8 arrays deep is fine");
        match packet {
            OscPacket::Message(m) => assert_eq!(array_depth(&m.args), 8),
            other => panic!("{other:?}"),
        }
        let deep = tagged(&format!("{}{}", "[".repeat(60_000), "]".repeat(1000)));
        assert_eq!(
            on_small_stack(move || decode(&deep)),
            Err(DecodeError::ArraysTooDeep)
        );
        // Inside a bundle, too.
        let inner = tagged(&"[".repeat(9));
        assert_eq!(
            decode(&wrap_in_bundle(&inner)),
            Err(DecodeError::ArraysTooDeep)
        );
        // Many arrays side by side are not deep.
        let wide = tagged(&"[]".repeat(5000));
        assert!(decode(&wide).is_ok());
    }

    #[test]
    fn bundles_side_by_side_are_not_deep() {
        let play = message("/playhead/play", vec![]);
        let one = wrap_in_bundle(&play);
        let mut many = b"#bundle\0\0\0\0\0\0\0\0\x01".to_vec();
        for _ in 0..1000 {
            many.extend_from_slice(&u32::try_from(one.len()).unwrap().to_be_bytes());
            many.extend_from_slice(&one);
        }
        let packet = decode(&many).expect("a wide bundle");
        assert_eq!(bundle_depth(&packet), 2);
    }

    #[test]
    fn oversized_datagrams_are_refused() {
        let big = vec![b'/'; MAX_DATAGRAM_BYTES + 1];
        assert_eq!(
            decode(&big),
            Err(DecodeError::TooLarge(MAX_DATAGRAM_BYTES + 1))
        );
    }

    /// A datagram of bundles and messages nested up to `depth`, some arrays in the tags, and
    /// the bytes then damaged: what an attacker or a broken client could send.
    fn hostile() -> impl Strategy<Value = Vec<u8>> {
        (
            0usize..3000,
            "[\\[\\]if]{0,40}",
            proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
            any::<usize>(),
        )
            .prop_map(|(depth, tags, flips, cut)| {
                let mut bytes = nested_bundles(&tagged(&tags), depth);
                for (at, value) in flips {
                    let len = bytes.len();
                    bytes[at % len] = value;
                }
                if cut % 3 == 0 {
                    bytes.truncate(cut % (bytes.len() + 1));
                }
                bytes
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        /// Whatever nesting arrives, decoding stays within the limits on a 2 MiB stack.
        #[test]
        fn nesting_never_exceeds_the_limits(bytes in hostile()) {
            let result = on_small_stack(move || decode(&bytes).map(|p| {
                let arrays = match &p {
                    OscPacket::Message(m) => array_depth(&m.args),
                    OscPacket::Bundle(_) => 0,
                };
                (bundle_depth(&p), arrays, format!("{p:?}").len())
            }));
            if let Ok((bundles, arrays, _)) = result {
                prop_assert!(bundles <= MAX_BUNDLE_DEPTH);
                prop_assert!(arrays <= MAX_ARRAY_DEPTH);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5000))]
        /// Random bytes: no panic.
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = decode(&bytes);
        }

        /// Random bytes behind a bundle header: no panic either.
        #[test]
        fn random_bundles_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut bytes = b"#bundle\0\0\0\0\0\0\0\0\x01".to_vec();
            bytes.extend_from_slice(&tail);
            let _ = decode(&bytes);
        }
    }
}

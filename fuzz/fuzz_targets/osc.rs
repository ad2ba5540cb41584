//! Arbitrary bytes into the OSC decoder the program uses (`playhead_core::wire::osc`), as they
//! would arrive on the OSC port, and the same bytes wrapped in bundles nested to a depth the
//! input picks: nothing may panic or overflow the stack, and what decodes keeps to the bounds.
//!
//! Run with `cargo +nightly fuzz run osc` from the repository root.

#![no_main]

use libfuzzer_sys::fuzz_target;
use playhead_core::wire::osc::{
    array_depth, bundle_depth, decode, nested_bundles, OscPacket, MAX_ARRAY_DEPTH,
    MAX_BUNDLE_DEPTH,
};

fn check(bytes: &[u8]) {
    let Ok(packet) = decode(bytes) else {
        return;
    };
    assert!(bundle_depth(&packet) <= MAX_BUNDLE_DEPTH);
    // Every message's arrays, with a list (no recursion here either).
    let mut todo = vec![&packet];
    while let Some(p) = todo.pop() {
        match p {
            OscPacket::Message(m) => assert!(array_depth(&m.args) <= MAX_ARRAY_DEPTH),
            OscPacket::Bundle(b) => todo.extend(b.content.iter()),
        }
    }
    // Printing and dropping recurse: within the bounds they must not overflow.
    let _ = format!("{packet:?}");
}

fuzz_target!(|data: &[u8]| {
    check(data);
    // The first byte picks a nesting depth (0 to 4,080, in steps of 16) for the rest.
    if let Some((&depth, rest)) = data.split_first() {
        let wrapped = nested_bundles(rest, usize::from(depth) * 16);
        check(&wrapped);
    }
});

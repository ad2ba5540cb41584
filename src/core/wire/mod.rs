//! What the operator's remote reads from the network, bounded before it is believed: OSC
//! datagrams ([`osc`]) and the status page's HTTP request heads ([`http`]).
//!
//! Both are fed by anyone who can reach a port, with no token, so each is bounded in size,
//! nesting depth and work per byte before a general-purpose decoder sees the bytes, and
//! neither recurses on what the input says: no packet, however built, can overflow a stack,
//! allocate without bound or panic. Both are fuzzed (`fuzz/fuzz_targets/osc.rs`,
//! `fuzz/fuzz_targets/http.rs`) and have property tests here.

pub mod http;
pub mod osc;

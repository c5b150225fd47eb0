//! Feeds arbitrary bytes to the STOMP decoder, whole and in chunks, and checks that it never
//! panics, that the split does not change what it reads, and that what it reads re-encodes.
//!
//! Run with `cargo fuzz run stomp_parse` from `crates/herald-codec`.

#![no_main]

use bytes::BytesMut;
use herald_codec::stomp::{Decoder, Frame, Limits, Parsed, Version, encode};
use libfuzzer_sys::fuzz_target;

/// Small enough that the fuzzer reaches every limit check.
const TIGHT: Limits = Limits {
    max_frame_size: 256,
    max_headers: 4,
    max_header_line: 32,
};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the version, limits and chunk size, so the corpus explores them all.
    let Some((&knobs, bytes)) = data.split_first() else {
        return;
    };
    let version = Version::ALL[usize::from(knobs % 3)];
    let limits = if knobs & 0x80 != 0 {
        TIGHT
    } else {
        Limits::default()
    };
    let chunk = usize::from((knobs >> 2) & 0x1f) + 1;

    let whole = decode(bytes, bytes.len().max(1), version, limits);
    let split = decode(bytes, chunk, version, limits);
    assert_eq!(whole, split, "the split changed what was read");

    for item in &whole.0 {
        if let Parsed::Frame(frame) = item {
            check_round_trip(frame, version);
        }
    }
});

/// Decodes `bytes` fed `chunk` bytes at a time; returns the items and whether it hit an error.
fn decode(bytes: &[u8], chunk: usize, version: Version, limits: Limits) -> (Vec<Parsed>, bool) {
    let mut decoder = Decoder::new(version, limits);
    let mut buf = BytesMut::new();
    let mut items = Vec::new();
    for piece in bytes.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            let before = buf.len();
            match decoder.decode(&mut buf) {
                Ok(Some(item)) => {
                    assert!(buf.len() < before, "an item consumed nothing");
                    items.push(item);
                }
                Ok(None) => {
                    assert_eq!(buf.len(), before, "incomplete input was consumed");
                    break;
                }
                Err(_) => return (items, true),
            }
        }
    }
    (items, false)
}

/// An escaped 1.2 frame re-encodes to itself; unescaped headers (1.0, 1.1's CR, the connect
/// handshake) cannot carry a raw CR inside a value that a lenient parse accepts.
fn check_round_trip(frame: &Frame, version: Version) {
    if version != Version::V1_2 || !frame.command.escapes_headers() {
        return;
    }
    let mut buf = BytesMut::new();
    encode(frame, version, &mut buf);
    // Escaping lengthens header lines, so the re-read must not be held to the tight limits.
    let loose = Limits {
        max_frame_size: usize::MAX,
        max_headers: usize::MAX,
        max_header_line: usize::MAX,
    };
    let again = match Decoder::new(version, loose).decode(&mut buf) {
        Ok(Some(Parsed::Frame(again))) => again,
        other => panic!("re-encoded frame did not decode: {other:?}"),
    };
    assert!(buf.is_empty(), "re-encoded frame left bytes behind");
    assert_eq!(again.command, frame.command);
    assert_eq!(again.body, frame.body);
    // The encoder writes its own content-length, so compare the other headers.
    let others = |f: &Frame| {
        f.headers
            .iter()
            .filter(|(name, _)| name != "content-length")
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(others(&again), others(frame));
}

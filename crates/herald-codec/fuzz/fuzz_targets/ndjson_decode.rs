//! Feeds arbitrary bytes to the NDJSON line decoder, whole and split: it never panics, a split
//! never changes the lines, and no line ever exceeds the limit.
//!
//! Run with `cargo fuzz run ndjson_decode` from `crates/herald-codec`.

#![no_main]

use herald_codec::ndjson::Decoder;
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 64;

fn decode(chunks: &[&[u8]]) -> (Vec<Vec<u8>>, bool) {
    let mut decoder = Decoder::new(LIMIT);
    let mut lines = Vec::new();
    for chunk in chunks {
        decoder.push(chunk);
        loop {
            match decoder.next_line() {
                Ok(Some(line)) => {
                    assert!(line.len() <= LIMIT && !line.is_empty() && !line.contains(&b'\n'));
                    lines.push(line.to_vec());
                }
                Ok(None) => break,
                Err(_) => return (lines, true),
            }
        }
    }
    (lines, false)
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, bytes)) = data.split_first() else { return };
    let (whole, whole_failed) = decode(&[bytes]);
    let at = usize::from(split) % (bytes.len() + 1);
    let (parts, parts_failed) = decode(&[&bytes[..at], &bytes[at..]]);
    assert_eq!(parts_failed, whole_failed, "a split changed whether the limit was hit");
    if !whole_failed {
        assert_eq!(parts, whole, "a split changed the lines");
    }
});

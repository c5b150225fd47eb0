//! Feeds arbitrary bytes to the SSE decoder, whole and split, and checks that it never panics
//! and that the split does not change what it reads; then checks that whatever data it read
//! survives an encode → decode round trip.
//!
//! Run with `cargo fuzz run sse_decode` from `crates/herald-codec`.

#![no_main]

use bytes::BytesMut;
use herald_codec::sse::{Decoder, Item, encode_event};
use libfuzzer_sys::fuzz_target;

fn decode(chunks: &[&[u8]]) -> Vec<Item> {
    let mut decoder = Decoder::new();
    let mut items = Vec::new();
    for chunk in chunks {
        decoder.push(chunk);
        while let Some(item) = decoder.next_item() {
            items.push(item);
        }
    }
    items
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, bytes)) = data.split_first() else { return };
    let whole = decode(&[bytes]);
    let at = usize::from(split) % (bytes.len() + 1);
    assert_eq!(decode(&[&bytes[..at], &bytes[at..]]), whole, "a split changed the items");
    for item in whole {
        if let Item::Event(event) = item {
            let mut out = BytesMut::new();
            encode_event(None, None, event.data.as_bytes(), &mut out);
            let again = decode(&[&out]);
            match again.as_slice() {
                [Item::Event(e)] => assert_eq!(e.data, event.data),
                other => panic!("re-encoded data decoded as {other:?}"),
            }
        }
    }
});

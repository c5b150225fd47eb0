//! Publish request bodies from arbitrary bytes: parsing never panics, and whatever it accepts is
//! within the limits and stores compact JSON that parses back.
//!
//! Run with `cargo fuzz run publish_body` from `crates/herald`.

#![no_main]

use herald::api::events::parse_publish_body;
use herald::core::event::Payload;
use herald::core::topic::Topic;
use libfuzzer_sys::fuzz_target;

const MAX_EVENT: usize = 256;

fuzz_target!(|data: &[u8]| {
    let topic = Topic::parse("fuzz.topic").expect("a valid topic");
    let Ok((events, batch)) = parse_publish_body(data, &topic, MAX_EVENT) else { return };
    assert!(!events.is_empty());
    assert!(batch || events.len() == 1);
    for event in events {
        let Payload::Json(json) = &event.payload else { panic!("HTTP publishes are JSON") };
        assert!(json.len() <= MAX_EVENT);
        assert!(!json.contains('\n'), "compacted data is one line");
        serde_json::from_str::<serde_json::Value>(json).expect("compacted data is still JSON");
    }
});

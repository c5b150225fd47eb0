//! Topic names and patterns from arbitrary text: parsing never panics, a parsed pattern's
//! matching agrees with its own definition, and scope coverage is consistent with matching.
//!
//! Run with `cargo fuzz run pattern` from `crates/herald`.

#![no_main]

use herald::auth::covers;
use herald::core::topic::{Pattern, Topic};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // Three fields: a pattern, another pattern, and a topic.
    let mut parts = text.splitn(3, '\n');
    let (a, b, t) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let topic = Topic::parse(t);
    if let Ok(topic) = &topic {
        // A topic is a pattern that matches exactly itself.
        let exact = Pattern::parse(topic.as_str()).expect("every topic is a valid pattern");
        assert!(exact.matches(topic.as_str()));
        assert!(exact.is_exact());
    }
    let (Ok(pa), Ok(pb)) = (Pattern::parse(a), Pattern::parse(b)) else { return };
    if let Ok(topic) = &topic {
        // If `a` covers `b`, every topic `b` matches, `a` matches too.
        if covers(&pa, &pb) && pb.matches(topic.as_str()) {
            assert!(pa.matches(topic.as_str()), "{a} covers {b} but not {t}");
        }
    }
    assert!(covers(&pa, &pa), "a pattern covers itself");
});

//! The STOMP codec against the spec's edge cases, plus property tests: round trips, arbitrary
//! split points, and arbitrary bytes.

use bytes::{Bytes, BytesMut};
use herald_codec::stomp::{
    Command, Decoder, Error, Frame, Limits, MessageTemplate, Parsed, Version, encode, negotiate,
    parse, parse_heart_beat,
};
use proptest::prelude::*;

const V10: Version = Version::V1_0;
const V11: Version = Version::V1_1;
const V12: Version = Version::V1_2;

/// Decodes every item in `bytes` with default limits, failing on a trailing partial frame.
fn decode_all(bytes: &[u8], version: Version) -> Result<Vec<Parsed>, Error> {
    decode_all_with(bytes, version, Limits::default())
}

fn decode_all_with(bytes: &[u8], version: Version, limits: Limits) -> Result<Vec<Parsed>, Error> {
    let mut buf = BytesMut::from(bytes);
    let mut decoder = Decoder::new(version, limits);
    let mut items = Vec::new();
    while let Some(item) = decoder.decode(&mut buf)? {
        items.push(item);
    }
    assert!(buf.is_empty(), "left over: {buf:?}");
    Ok(items)
}

/// Decodes exactly one frame from `bytes`.
fn one_frame(bytes: &[u8], version: Version) -> Frame {
    match decode_all(bytes, version).unwrap().as_slice() {
        [Parsed::Frame(frame)] => frame.clone(),
        other => panic!("expected one frame, got {other:?}"),
    }
}

fn first_error(bytes: &[u8], version: Version, limits: Limits) -> Error {
    let mut buf = BytesMut::from(bytes);
    let mut decoder = Decoder::new(version, limits);
    loop {
        match decoder.decode(&mut buf) {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("no error; {} bytes left", buf.len()),
            Err(error) => return error,
        }
    }
}

fn encoded(frame: &Frame, version: Version) -> Vec<u8> {
    let mut buf = BytesMut::new();
    encode(frame, version, &mut buf);
    buf.to_vec()
}

fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

#[test]
fn every_command_is_read_by_its_exact_name() {
    for command in Command::ALL {
        assert_eq!(
            Command::from_bytes(command.as_str().as_bytes()),
            Some(command)
        );
        let lower = command.as_str().to_lowercase();
        assert_eq!(Command::from_bytes(lower.as_bytes()), None);
    }
    let with_body: Vec<_> = Command::ALL
        .into_iter()
        .filter(|c| c.may_have_body())
        .collect();
    assert_eq!(with_body, [Command::Send, Command::Message, Command::Error]);
    let unescaped: Vec<_> = Command::ALL
        .into_iter()
        .filter(|c| !c.escapes_headers())
        .collect();
    assert_eq!(
        unescaped,
        [Command::Connect, Command::Stomp, Command::Connected]
    );
    assert!(Command::Nack.is_client() && !Command::Receipt.is_client());
}

#[test]
fn parses_frame_with_lf_line_endings() {
    let frame = one_frame(b"SEND\ndestination:/topic/a\n\nhello\0", V12);
    assert_eq!(frame.command, Command::Send);
    assert_eq!(frame.headers, headers(&[("destination", "/topic/a")]));
    assert_eq!(frame.body, Bytes::from_static(b"hello"));
}

#[test]
fn parses_frame_with_crlf_line_endings_in_every_version() {
    for version in Version::ALL {
        let frame = one_frame(b"SEND\r\ndestination:/topic/a\r\nx:y\r\n\r\nhi\0", version);
        assert_eq!(
            frame.headers,
            headers(&[("destination", "/topic/a"), ("x", "y")])
        );
        assert_eq!(frame.body, Bytes::from_static(b"hi"));
    }
}

#[test]
fn repeated_header_first_occurrence_wins() {
    let frame = one_frame(b"MESSAGE\nfoo:first\nfoo:second\n\n\0", V12);
    assert_eq!(frame.header("foo"), Some("first"));
    assert_eq!(frame.headers.len(), 2, "repeats are kept");
    assert_eq!(frame.header("bar"), None);
}

#[test]
fn header_value_keeps_later_colons_and_whitespace() {
    let frame = one_frame(b"SEND\nurl: http://x:80/ \n\n\0", V10);
    assert_eq!(frame.header("url"), Some(" http://x:80/ "));
}

#[test]
fn v1_2_unescapes_cr_lf_colon_backslash() {
    let frame = one_frame(b"SEND\na\\cb:1\\r2\\n3\\c4\\\\5\n\n\0", V12);
    assert_eq!(frame.headers, headers(&[("a:b", "1\r2\n3:4\\5")]));
}

#[test]
fn v1_1_unescapes_lf_colon_backslash_but_not_cr() {
    let frame = one_frame(b"SEND\nk:1\\n2\\c3\\\\4\n\n\0", V11);
    assert_eq!(frame.header("k"), Some("1\n2:3\\4"));
    let error = first_error(b"SEND\nk:\\r\n\n\0", V11, Limits::default());
    assert_eq!(error, Error::UndefinedEscape("\\r".into()));
}

#[test]
fn v1_0_takes_backslashes_literally() {
    let frame = one_frame(b"SEND\nk:a\\nb\\tc\\\n\n\0", V10);
    assert_eq!(frame.header("k"), Some("a\\nb\\tc\\"));
}

#[test]
fn undefined_escape_sequences_are_errors_in_1_1_and_1_2() {
    for version in [V11, V12] {
        let error = first_error(b"SEND\nk:a\\tb\n\n\0", version, Limits::default());
        assert_eq!(error.to_string(), "undefined escape sequence \\t in header");
        let error = first_error(b"SEND\nk:a\\\n\n\0", version, Limits::default());
        assert_eq!(error, Error::UnfinishedEscape);
        let error = first_error(b"SEND\nk\\x:a\n\n\0", version, Limits::default());
        assert_eq!(error, Error::UndefinedEscape("\\x".into()));
    }
}

#[test]
fn connect_and_connected_headers_are_never_unescaped() {
    for command in ["CONNECT", "STOMP", "CONNECTED"] {
        let bytes = format!("{command}\npasscode:a\\tb\\c\n\n\0");
        let frame = one_frame(bytes.as_bytes(), V12);
        assert_eq!(frame.header("passcode"), Some("a\\tb\\c"));
    }
}

#[test]
fn content_length_body_may_contain_nul() {
    let frame = one_frame(b"SEND\ncontent-length:5\n\na\0b\0c\0", V12);
    assert_eq!(frame.body, Bytes::from_static(b"a\0b\0c"));
}

#[test]
fn content_length_body_must_be_followed_by_nul() {
    let error = first_error(b"SEND\ncontent-length:2\n\nabc\0", V12, Limits::default());
    assert_eq!(error, Error::MissingNul(2));
    assert_eq!(
        error.to_string(),
        "expected NUL after the 2-byte body given by content-length"
    );
}

#[test]
fn body_without_content_length_ends_at_first_nul() {
    let items = decode_all(b"SEND\n\nab\0MESSAGE\n\ncd\0", V12).unwrap();
    let bodies: Vec<_> = items
        .iter()
        .map(|item| match item {
            Parsed::Frame(frame) => frame.body.clone(),
            Parsed::HeartBeat => panic!("no heart-beat here"),
        })
        .collect();
    assert_eq!(
        bodies,
        [Bytes::from_static(b"ab"), Bytes::from_static(b"cd")]
    );
}

#[test]
fn first_content_length_wins() {
    let frame = one_frame(b"SEND\ncontent-length:1\ncontent-length:oops\n\n\0\0", V12);
    assert_eq!(frame.body, Bytes::from_static(b"\0"));
}

#[test]
fn invalid_content_length_is_an_error() {
    for bad in [
        "",
        "abc",
        "-1",
        "+1",
        " 1",
        "1 ",
        "0x10",
        "99999999999999999999999",
    ] {
        let bytes = format!("SEND\ncontent-length:{bad}\n\n\0");
        let error = first_error(bytes.as_bytes(), V12, Limits::default());
        assert!(
            matches!(error, Error::InvalidContentLength(_)),
            "{bad:?} gave {error:?}"
        );
    }
    let error = first_error(b"SEND\ncontent-length:abc\n\n\0", V12, Limits::default());
    assert_eq!(
        error.to_string(),
        "invalid content-length abc: expected a number of bytes"
    );
}

#[test]
fn content_length_beyond_frame_limit_is_refused_before_the_body_arrives() {
    let limits = Limits {
        max_frame_size: 1000,
        ..Limits::default()
    };
    let error = first_error(b"SEND\ncontent-length:5000\n\n", V12, limits);
    assert_eq!(error, Error::FrameTooLarge(1000));
    let huge = format!("SEND\ncontent-length:{}\n\n", usize::MAX);
    assert_eq!(
        first_error(huge.as_bytes(), V12, limits),
        Error::FrameTooLarge(1000)
    );
}

#[test]
fn every_proper_prefix_is_incomplete_and_consumes_nothing() {
    let bytes = b"SEND\r\ndestination:/topic/a\r\ncontent-length:3\r\n\r\na\0b\0";
    for cut in 0..bytes.len() {
        let mut buf = BytesMut::from(&bytes[..cut]);
        let mut decoder = Decoder::new(V12, Limits::default());
        assert_eq!(decoder.decode(&mut buf), Ok(None), "cut at {cut}");
        assert_eq!(buf.len(), cut, "cut at {cut} consumed bytes");
    }
}

#[test]
fn frame_fed_one_byte_at_a_time_completes_once() {
    let bytes = b"SEND\ndestination:/topic/a\n\nbody\0";
    let mut decoder = Decoder::new(V12, Limits::default());
    let mut buf = BytesMut::new();
    let mut items = Vec::new();
    for &b in bytes {
        buf.extend_from_slice(&[b]);
        if let Some(item) = decoder.decode(&mut buf).unwrap() {
            items.push(item);
        }
    }
    assert_eq!(items, decode_all(bytes, V12).unwrap());
    assert!(buf.is_empty());
}

#[test]
fn trickled_body_is_scanned_once() {
    // Rescanning from the frame's start on every call would make this take minutes.
    let mut decoder = Decoder::new(V12, Limits::default());
    let mut buf = BytesMut::from(&b"SEND\n\n"[..]);
    let chunk = [b'x'; 512];
    for _ in 0..(4 << 20) / chunk.len() {
        buf.extend_from_slice(&chunk);
        assert_eq!(decoder.decode(&mut buf), Ok(None));
    }
    buf.extend_from_slice(b"\0");
    let Ok(Some(Parsed::Frame(frame))) = decoder.decode(&mut buf) else {
        panic!("expected the frame");
    };
    assert_eq!(frame.body.len(), 4 << 20);
}

#[test]
fn several_frames_and_heart_beats_in_one_buffer() {
    let bytes = b"\nSEND\n\na\0\r\n\nRECEIPT\nreceipt-id:7\n\n\0\n";
    let items = decode_all(bytes, V12).unwrap();
    let receipt = Frame::receipt("7");
    let send = Frame::new(Command::Send).with_body(&b"a"[..]);
    assert_eq!(
        items,
        [
            Parsed::HeartBeat,
            Parsed::Frame(send),
            Parsed::HeartBeat,
            Parsed::HeartBeat,
            Parsed::Frame(receipt),
            Parsed::HeartBeat,
        ]
    );
}

#[test]
fn heart_beat_crlf_split_after_cr_waits_for_lf() {
    let mut decoder = Decoder::new(V12, Limits::default());
    let mut buf = BytesMut::from(&b"\r"[..]);
    assert_eq!(decoder.decode(&mut buf), Ok(None));
    assert_eq!(buf.len(), 1);
    buf.extend_from_slice(b"\n");
    assert_eq!(decoder.decode(&mut buf), Ok(Some(Parsed::HeartBeat)));
    assert!(buf.is_empty());
}

#[test]
fn unknown_command_is_named_in_the_error() {
    let error = first_error(b"FOO\n\n\0", V12, Limits::default());
    assert_eq!(error.to_string(), "unknown command FOO");
    let error = first_error(b"send\n\n\0", V12, Limits::default());
    assert_eq!(error, Error::UnknownCommand("send".into()));
}

#[test]
fn endless_command_line_is_refused_without_its_end() {
    let error = first_error(b"GET / HTTP/1.1", V12, Limits::default());
    assert_eq!(error, Error::UnknownCommand("GET / HTTP/1.1".into()));
}

#[test]
fn endless_header_line_is_refused_as_soon_as_it_is_too_long() {
    let mut bytes = b"SEND\nk:".to_vec();
    bytes.resize(5 + 8192, b'v');
    let mut decoder = Decoder::new(V12, Limits::default());
    let mut buf = BytesMut::from(&bytes[..]);
    assert_eq!(decoder.decode(&mut buf), Ok(None), "8192 bytes are allowed");
    buf.extend_from_slice(b"v");
    let error = decoder.decode(&mut buf).unwrap_err();
    assert_eq!(error.to_string(), "header line exceeds 8192 bytes");
}

#[test]
fn header_line_limit_does_not_count_the_eol() {
    let limits = Limits {
        max_header_line: 8,
        ..Limits::default()
    };
    let frame = one_frame_with(b"SEND\r\nabc:1234\r\n\r\n\0", limits);
    assert_eq!(frame.header("abc"), Some("1234"));
    let error = first_error(b"SEND\r\nabc:12345\r\n\r\n\0", V12, limits);
    assert_eq!(error, Error::HeaderLineTooLong(8));
}

fn one_frame_with(bytes: &[u8], limits: Limits) -> Frame {
    match decode_all_with(bytes, V12, limits).unwrap().as_slice() {
        [Parsed::Frame(frame)] => frame.clone(),
        other => panic!("expected one frame, got {other:?}"),
    }
}

#[test]
fn header_count_limit_is_enforced_even_on_a_partial_line() {
    let mut ok = b"SEND\n".to_vec();
    for i in 0..100 {
        ok.extend_from_slice(format!("h{i}:v\n").as_bytes());
    }
    let mut too_many = ok.clone();
    ok.extend_from_slice(b"\n\0");
    assert_eq!(one_frame(&ok, V12).headers.len(), 100);
    too_many.extend_from_slice(b"h");
    let error = first_error(&too_many, V12, Limits::default());
    assert_eq!(error.to_string(), "frame has more than 100 headers");
}

#[test]
fn endless_body_is_refused_at_the_frame_limit() {
    let limits = Limits {
        max_frame_size: 64,
        ..Limits::default()
    };
    let mut decoder = Decoder::new(V12, limits);
    let mut buf = BytesMut::from(&b"SEND\n\n"[..]);
    while buf.len() < 64 {
        assert_eq!(decoder.decode(&mut buf), Ok(None));
        buf.extend_from_slice(b"x");
    }
    assert_eq!(decoder.decode(&mut buf), Err(Error::FrameTooLarge(64)));
}

#[test]
fn frame_of_exactly_the_limit_is_accepted() {
    let bytes = b"SEND\n\n0123456789\0";
    let limits = Limits {
        max_frame_size: bytes.len(),
        ..Limits::default()
    };
    assert_eq!(one_frame_with(bytes, limits).body.len(), 10);
    let limits = Limits {
        max_frame_size: bytes.len() - 1,
        ..limits
    };
    let error = decode_all_with(bytes, V12, limits).unwrap_err();
    assert_eq!(error, Error::FrameTooLarge(bytes.len() - 1));
}

#[test]
fn malformed_header_lines_are_errors() {
    let error = first_error(b"SEND\nno-colon\n\n\0", V12, Limits::default());
    assert_eq!(error.to_string(), "header line without a colon: no-colon");
    let error = first_error(b"SEND\n:value\n\n\0", V12, Limits::default());
    assert_eq!(error, Error::EmptyHeaderName);
    let error = first_error(b"SEND\nk:\xff\n\n\0", V12, Limits::default());
    assert_eq!(error, Error::InvalidUtf8);
}

#[test]
fn body_on_a_frame_that_may_not_have_one_is_an_error() {
    let error = first_error(b"SUBSCRIBE\nid:1\n\nx\0", V12, Limits::default());
    assert_eq!(error.to_string(), "SUBSCRIBE frame must not have a body");
    let error = first_error(b"ACK\ncontent-length:1\n\n", V12, Limits::default());
    assert_eq!(error, Error::UnexpectedBody(Command::Ack));
    let frame = one_frame(b"SUBSCRIBE\nid:1\ncontent-length:0\n\n\0", V12);
    assert!(frame.body.is_empty());
}

#[test]
fn stateless_parse_matches_the_decoder() {
    let mut buf = BytesMut::from(&b"SEND\n\nx\0\n"[..]);
    let first = parse(&mut buf, V12, Limits::default()).unwrap();
    assert_eq!(
        first,
        Some(Parsed::Frame(
            Frame::new(Command::Send).with_body(&b"x"[..])
        ))
    );
    assert_eq!(
        parse(&mut buf, V12, Limits::default()),
        Ok(Some(Parsed::HeartBeat))
    );
    assert_eq!(parse(&mut buf, V12, Limits::default()), Ok(None));
}

#[test]
fn decoder_survives_a_buffer_that_shrank() {
    let mut decoder = Decoder::new(V12, Limits::default());
    let mut buf = BytesMut::from(&b"SEND\ndestination:/t"[..]);
    assert_eq!(decoder.decode(&mut buf), Ok(None));
    let mut fresh = BytesMut::from(&b"SEND\n\n\0"[..]);
    assert!(matches!(
        decoder.decode(&mut fresh),
        Ok(Some(Parsed::Frame(_)))
    ));
}

#[test]
fn encode_escapes_headers_per_version() {
    let frame = Frame::new(Command::Message).with_header("a:b", "1\r2\n3:4\\5");
    assert_eq!(
        encoded(&frame, V12),
        b"MESSAGE\na\\cb:1\\r2\\n3\\c4\\\\5\n\n\0"
    );
    assert_eq!(
        encoded(&frame, V11),
        b"MESSAGE\na\\cb:1 2\\n3\\c4\\\\5\n\n\0"
    );
    assert_eq!(encoded(&frame, V10), b"MESSAGE\na b:1 2 3:4\\5\n\n\0");
}

#[test]
fn encode_never_escapes_connect_or_connected() {
    let frame = Frame::new(Command::Connected).with_header("server", "herald\\1:2\n");
    assert_eq!(
        encoded(&frame, V12),
        b"CONNECTED\nserver:herald\\1:2 \n\n\0"
    );
}

#[test]
fn encode_writes_the_true_content_length_for_any_body() {
    let frame = Frame::new(Command::Send)
        .with_header("content-length", "999")
        .with_header("destination", "/topic/a")
        .with_body(&b"a\0b"[..]);
    assert_eq!(
        encoded(&frame, V12),
        b"SEND\ndestination:/topic/a\ncontent-length:3\n\na\0b\0"
    );
    let empty = Frame::new(Command::Send).with_header("content-length", "0");
    assert_eq!(encoded(&empty, V12), b"SEND\n\n\0");
}

#[test]
fn server_frame_builders_set_the_required_headers() {
    let connected = Frame::connected(V12, (10_000, 0)).with_header("server", "herald/0.1");
    assert_eq!(connected.header("version"), Some("1.2"));
    assert_eq!(connected.header("heart-beat"), Some("10000,0"));
    let message = Frame::message("/topic/a", "ev1", "sub-0", &b"{}"[..]);
    assert_eq!(message.command, Command::Message);
    assert_eq!(message.header("destination"), Some("/topic/a"));
    assert_eq!(message.header("message-id"), Some("ev1"));
    assert_eq!(message.header("subscription"), Some("sub-0"));
    assert_eq!(message.body, Bytes::from_static(b"{}"));
    assert_eq!(Frame::receipt("r1").header("receipt-id"), Some("r1"));
    let error = Frame::error("unknown command FOO", "details");
    assert_eq!(error.header("message"), Some("unknown command FOO"));
    assert_eq!(error.header("content-type"), Some("text/plain"));
    assert_eq!(error.body, Bytes::from_static(b"details"));
    assert!(Frame::error("short", "").body.is_empty());
}

#[test]
fn message_template_decodes_like_the_equivalent_frame() {
    let shared = headers(&[
        ("destination", "/topic/chat:1"),
        ("message-id", "ev1"),
        ("subscription", "ignored"),
        ("content-length", "1"),
    ]);
    let template = MessageTemplate::new(&shared, b"a\0b", V12);
    for (subscription, ack) in [("s1", None), ("s2", Some("ack-9"))] {
        let mut buf = BytesMut::new();
        template.encode(subscription, ack, &mut buf);
        let frame = one_frame(&buf, V12);
        assert_eq!(frame.header("subscription"), Some(subscription));
        assert_eq!(frame.header("ack"), ack);
        assert_eq!(frame.header("destination"), Some("/topic/chat:1"));
        assert_eq!(frame.header("content-length"), Some("3"));
        assert_eq!(frame.body, Bytes::from_static(b"a\0b"));
        let mut parts = template.head(subscription, ack).to_vec();
        parts.extend_from_slice(&template.tail());
        assert_eq!(parts, buf.to_vec());
    }
}

#[test]
fn negotiate_picks_the_highest_shared_version() {
    assert_eq!(negotiate(None), Some(V10));
    assert_eq!(negotiate(Some("1.0,1.1,1.2")), Some(V12));
    assert_eq!(negotiate(Some("1.1, 1.0")), Some(V11));
    assert_eq!(negotiate(Some("1.2,2.0")), Some(V12));
    assert_eq!(negotiate(Some("2.0")), None);
    assert_eq!(negotiate(Some("")), None);
    assert_eq!(Version::from_name("1.1"), Some(V11));
    assert_eq!(V12.to_string(), "1.2");
}

#[test]
fn heart_beat_header_is_two_millisecond_counts() {
    assert_eq!(parse_heart_beat("0,0"), Ok((0, 0)));
    assert_eq!(parse_heart_beat("10000,5000"), Ok((10_000, 5_000)));
    assert_eq!(parse_heart_beat("10000, 5000"), Ok((10_000, 5_000)));
    for bad in ["", "1", "1,", ",1", "1,2,3", "-1,0", "+1,0", "a,b", "1.5,2"] {
        assert!(parse_heart_beat(bad).is_err(), "{bad:?} was accepted");
    }
    assert_eq!(
        parse_heart_beat("x").unwrap_err().to_string(),
        "invalid heart-beat x: expected two comma-separated milliseconds, like 10000,10000"
    );
}

#[test]
fn error_excerpts_are_short_and_printable() {
    let mut bytes = b"SEND\n".to_vec();
    bytes.extend_from_slice(&[b'\x01'; 200]);
    bytes.extend_from_slice(b"\n\n\0");
    let Error::MissingColon(shown) = first_error(&bytes, V12, Limits::default()) else {
        panic!("expected a missing colon");
    };
    assert!(
        shown.starts_with("\\u{1}") && shown.ends_with("..."),
        "{shown}"
    );
    assert!(shown.len() < 64 * 6 + 3);
}

// ---- property tests ----

/// A header name or value of chars `allowed` keeps, biased towards those escaping cares about;
/// a char it does not keep is swapped for `x`.
fn text(allowed: CharRule, min: usize) -> impl Strategy<Value = String> {
    let interesting = vec![
        'a', 'Z', '0', ':', '\\', '\r', '\n', ' ', '\t', '\0', 'é', '€', '-',
    ];
    // Mapping instead of filtering: a filter's rejects add up over thousands of cases.
    let ch = prop_oneof![3 => prop::sample::select(interesting), 1 => any::<char>()]
        .prop_map(move |c| if allowed(c) { c } else { 'x' });
    prop::collection::vec(ch, min..12).prop_map(String::from_iter)
}

/// Which chars a header name or value may hold.
type CharRule = fn(char) -> bool;

fn any_char(_: char) -> bool {
    true
}

fn not_cr(c: char) -> bool {
    c != '\r'
}

fn not_eol(c: char) -> bool {
    c != '\r' && c != '\n'
}

fn not_eol_or_colon(c: char) -> bool {
    not_eol(c) && c != ':'
}

/// Any frame `version` can carry without loss; names stay under 12 chars, so none is the
/// `content-length` the encoder writes itself.
fn frame(version: Version) -> impl Strategy<Value = Frame> {
    prop::sample::select(Command::ALL.to_vec()).prop_flat_map(move |command| {
        let (name, value): (CharRule, CharRule) = match (version, command.escapes_headers()) {
            (V12, true) => (any_char, any_char),
            (V11, true) => (not_cr, not_cr),
            _ => (not_eol_or_colon, not_eol),
        };
        let header = (text(name, 1), text(value, 0));
        let byte = prop_oneof![Just(0u8), any::<u8>()];
        let max_body = if command.may_have_body() { 64 } else { 0 };
        (
            prop::collection::vec(header, 0..6),
            prop::collection::vec(byte, 0..=max_body),
        )
            .prop_map(move |(headers, body)| Frame {
                command,
                headers,
                body: body.into(),
            })
    })
}

/// What decoding an encoded `frame` yields: the encoder adds the body's content-length.
fn as_decoded(frame: &Frame) -> Frame {
    let mut expected = frame.clone();
    if !frame.body.is_empty() {
        expected
            .headers
            .push(("content-length".into(), frame.body.len().to_string()));
    }
    expected
}

fn version() -> impl Strategy<Value = Version> {
    prop::sample::select(Version::ALL.to_vec())
}

/// A stream of frames and heart-beats, with the bytes that encode it.
fn stream() -> impl Strategy<Value = (Version, Vec<Parsed>, Vec<u8>)> {
    version().prop_flat_map(|version| {
        let item = prop_oneof![
            4 => frame(version).prop_map(|f| (Parsed::Frame(f), false)),
            1 => any::<bool>().prop_map(|crlf| (Parsed::HeartBeat, crlf)),
        ];
        prop::collection::vec(item, 0..8).prop_map(move |items| {
            let mut bytes = BytesMut::new();
            let mut expected = Vec::new();
            for (item, crlf) in items {
                match item {
                    Parsed::Frame(frame) => {
                        encode(&frame, version, &mut bytes);
                        expected.push(Parsed::Frame(as_decoded(&frame)));
                    }
                    Parsed::HeartBeat => {
                        bytes.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
                        expected.push(Parsed::HeartBeat);
                    }
                }
            }
            (version, expected, bytes.to_vec())
        })
    })
}

/// Feeds `bytes` to one decoder in chunks cut at `cuts`, checking it never consumes a partial
/// item; returns the items and whether it stopped on an error.
fn feed(bytes: &[u8], cuts: &[usize], version: Version, limits: Limits) -> (Vec<Parsed>, bool) {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    points.push(bytes.len());
    points.sort_unstable();
    let mut decoder = Decoder::new(version, limits);
    let mut buf = BytesMut::new();
    let mut items = Vec::new();
    let mut from = 0;
    for to in points {
        buf.extend_from_slice(&bytes[from..to]);
        from = to;
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

/// Small limits, so that arbitrary input reaches the limit checks.
const TIGHT: Limits = Limits {
    max_frame_size: 96,
    max_headers: 3,
    max_header_line: 24,
};

/// Bytes that look enough like STOMP to get past the command line.
fn stompish() -> impl Strategy<Value = Vec<u8>> {
    let tokens: Vec<&'static [u8]> = vec![
        b"SEND",
        b"MESSAGE",
        b"CONNECT",
        b"ACK",
        b"\n",
        b"\r\n",
        b"\r",
        b":",
        b"\\",
        b"\\n",
        b"\\r",
        b"\\c",
        b"\\t",
        b"\0",
        b"content-length:",
        b"2",
        b"0",
        b"a",
        b"\xc3\xa9",
        b"\xff",
    ];
    prop::collection::vec(prop::sample::select(tokens), 0..64).prop_map(|t| t.concat())
}

/// A header line built from the bytes escaping cares about, valid or not.
fn raw_header_line() -> impl Strategy<Value = Vec<u8>> {
    let tokens: Vec<&'static [u8]> = vec![
        b"a",
        b":",
        b"\\",
        b"\\n",
        b"\\r",
        b"\\c",
        b"\\",
        b"\r",
        b"\0",
        b" ",
        b"\xc3\xa9",
    ];
    prop::collection::vec(prop::sample::select(tokens), 1..10).prop_map(|t| t.concat())
}

/// A frame as a peer might send it, with headers a lenient parse may or may not accept.
fn raw_frame() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(Command::ALL.to_vec()),
        prop::collection::vec(raw_header_line(), 0..4),
    )
        .prop_map(|(command, lines)| {
            let mut bytes = command.as_str().as_bytes().to_vec();
            for line in lines {
                bytes.push(b'\n');
                bytes.extend_from_slice(&line);
            }
            bytes.extend_from_slice(b"\n\n\0");
            bytes
        })
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn prop_round_trip_in_each_version(
        (version, frame) in version().prop_flat_map(|v| (Just(v), frame(v))),
    ) {
        let bytes = encoded(&frame, version);
        let decoded = decode_all(&bytes, version).unwrap();
        prop_assert_eq!(decoded, vec![Parsed::Frame(as_decoded(&frame))]);
    }

    #[test]
    fn prop_any_split_yields_the_same_items(
        (version, expected, bytes) in stream(),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let (items, failed) = feed(&bytes, &cuts, version, Limits::default());
        prop_assert!(!failed);
        prop_assert_eq!(items, expected);
    }

    #[test]
    fn prop_whatever_1_2_decodes_re_encodes_to_itself(bytes in raw_frame()) {
        let (items, _) = feed(&bytes, &[], V12, Limits::default());
        for item in items {
            let Parsed::Frame(frame) = item else { continue };
            if !frame.command.escapes_headers() {
                continue;
            }
            let again = one_frame(&encoded(&frame, V12), V12);
            prop_assert_eq!(again, as_decoded(&frame));
        }
    }

    #[test]
    fn prop_random_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
        version in version(),
        tight in any::<bool>(),
    ) {
        let limits = if tight { TIGHT } else { Limits::default() };
        feed(&bytes, &cuts, version, limits);
    }

    #[test]
    fn prop_stomp_like_bytes_decode_alike_whatever_the_split(
        bytes in stompish(),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
        version in version(),
        tight in any::<bool>(),
    ) {
        let limits = if tight { TIGHT } else { Limits::default() };
        let whole = feed(&bytes, &[], version, limits);
        let split = feed(&bytes, &cuts, version, limits);
        prop_assert_eq!(whole, split);
    }
}

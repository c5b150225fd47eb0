//! Topic names and the patterns consumers subscribe with.
//!
//! A topic is dot-separated tokens of `[A-Za-z0-9_-]`, 1–255 bytes. A pattern may use `*` for
//! exactly one token and a final `>` for one or more.

use std::fmt;

/// Longest topic name or pattern, in bytes.
pub const MAX_NAME_LEN: usize = 255;

/// Why a topic name or pattern was refused; the message names the offending part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("{what} must be 1 to {MAX_NAME_LEN} bytes long, got {len}")]
    Length { what: &'static str, len: usize },
    #[error("{what} `{name}` has an empty token; tokens are separated by single dots")]
    EmptyToken { what: &'static str, name: String },
    #[error(
        "{what} `{name}` has token `{token}`; tokens may contain only A-Z, a-z, 0-9, `_` and `-`{hint}"
    )]
    BadToken {
        what: &'static str,
        name: String,
        token: String,
        hint: &'static str,
    },
    #[error("pattern `{0}` uses `>` before its last token; `>` may only end a pattern")]
    MisplacedRest(String),
}

fn valid_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A validated topic name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Topic(String);

impl Topic {
    /// Validates a topic name.
    pub fn parse(name: &str) -> Result<Self, NameError> {
        check_length("topic name", name)?;
        for token in name.split('.') {
            if token.is_empty() {
                return Err(NameError::EmptyToken {
                    what: "topic name",
                    name: name.into(),
                });
            }
            if !valid_token(token) {
                let hint = if token == "*" || token == ">" {
                    " (wildcards are for subscribing, not publishing)"
                } else {
                    ""
                };
                return Err(NameError::BadToken {
                    what: "topic name",
                    name: name.into(),
                    token: token.into(),
                    hint,
                });
            }
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is one of Herald's own `herald.*` topics, which clients may not publish to.
    pub fn is_system(&self) -> bool {
        self.0.split('.').next() == Some("herald")
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn check_length(what: &'static str, name: &str) -> Result<(), NameError> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(NameError::Length {
            what,
            len: name.len(),
        });
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(String),
    /// `*`: exactly one token.
    One,
    /// A final `>`: one or more tokens.
    Rest,
}

/// A validated subscription pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    tokens: Vec<Token>,
}

impl Pattern {
    /// Validates a pattern.
    pub fn parse(text: &str) -> Result<Self, NameError> {
        check_length("pattern", text)?;
        let parts: Vec<&str> = text.split('.').collect();
        let mut tokens = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            tokens.push(match *part {
                "" => {
                    return Err(NameError::EmptyToken {
                        what: "pattern",
                        name: text.into(),
                    });
                }
                "*" => Token::One,
                ">" if i + 1 == parts.len() => Token::Rest,
                ">" => return Err(NameError::MisplacedRest(text.into())),
                t if valid_token(t) => Token::Literal(t.to_owned()),
                t => {
                    return Err(NameError::BadToken {
                        what: "pattern",
                        name: text.into(),
                        token: t.into(),
                        hint: " (or be exactly `*` or a final `>`)",
                    });
                }
            });
        }
        Ok(Self {
            text: text.to_owned(),
            tokens,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the pattern names exactly one topic (no wildcard).
    pub fn is_exact(&self) -> bool {
        self.tokens.iter().all(|t| matches!(t, Token::Literal(_)))
    }

    /// Whether `topic` (a valid topic name) matches.
    pub fn matches(&self, topic: &str) -> bool {
        let mut parts = topic.split('.');
        for token in &self.tokens {
            match token {
                Token::Rest => return parts.next().is_some(),
                Token::One => {
                    if parts.next().is_none() {
                        return false;
                    }
                }
                Token::Literal(lit) => {
                    if parts.next() != Some(lit.as_str()) {
                        return false;
                    }
                }
            }
        }
        parts.next().is_none()
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The patterns one reader follows; an event is wanted when any of them matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternSet(Vec<Pattern>);

impl PatternSet {
    /// A set of at least one pattern.
    pub fn new(patterns: Vec<Pattern>) -> Option<Self> {
        (!patterns.is_empty()).then_some(Self(patterns))
    }

    /// Parses each text as a pattern.
    pub fn parse<S: AsRef<str>>(texts: &[S]) -> Result<Option<Self>, NameError> {
        let patterns = texts
            .iter()
            .map(|t| Pattern::parse(t.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(Self::new(patterns))
    }

    /// Whether any pattern matches `topic`.
    pub fn matches(&self, topic: &str) -> bool {
        self.0.iter().any(|p| p.matches(topic))
    }

    /// Whether the set matches every topic (it contains a bare `>`).
    pub fn matches_all(&self) -> bool {
        self.0.iter().any(|p| p.tokens == [Token::Rest])
    }

    /// The patterns.
    pub fn patterns(&self) -> &[Pattern] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names() {
        for ok in [
            "orders",
            "orders.42",
            "chat.room-7",
            "a_b.C-d.0",
            &"x".repeat(255),
        ] {
            assert!(Topic::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a..b",
            ".a",
            "a.",
            "a b",
            "a.*",
            "a.>",
            "ü",
            &"x".repeat(256),
        ] {
            assert!(Topic::parse(bad).is_err(), "{bad}");
        }
        assert!(Topic::parse("herald.delivery.dead").unwrap().is_system());
        assert!(!Topic::parse("heraldry.x").unwrap().is_system());
    }

    #[test]
    fn errors_name_the_problem() {
        let err = Topic::parse("orders.*").unwrap_err().to_string();
        assert!(err.contains("`*`") && err.contains("subscribing"), "{err}");
        let err = Pattern::parse("a.>.b").unwrap_err().to_string();
        assert!(err.contains("may only end"), "{err}");
    }

    #[test]
    fn pattern_matching() {
        let cases = [
            ("orders.*", "orders.42", true),
            ("orders.*", "orders", false),
            ("orders.*", "orders.42.x", false),
            ("orders.>", "orders.42", true),
            ("orders.>", "orders.42.x", true),
            ("orders.>", "orders", false),
            (">", "anything.at.all", true),
            ("*.created", "user.created", true),
            ("*.created", "user.deleted", false),
            ("a.*.c", "a.b.c", true),
            ("a.*.c", "a.b.d", false),
            ("orders", "orders", true),
            ("orders", "orders.1", false),
            ("*", "x", true),
            ("*", "x.y", false),
        ];
        for (pattern, topic, want) in cases {
            assert_eq!(
                Pattern::parse(pattern).unwrap().matches(topic),
                want,
                "{pattern} {topic}"
            );
        }
    }

    #[test]
    fn pattern_sets() {
        let set = PatternSet::parse(&["a.*", "b"]).unwrap().unwrap();
        assert!(set.matches("a.x") && set.matches("b") && !set.matches("c"));
        assert!(!set.matches_all());
        assert!(PatternSet::parse(&[">"]).unwrap().unwrap().matches_all());
        assert_eq!(PatternSet::parse::<&str>(&[]).unwrap(), None);
    }
}

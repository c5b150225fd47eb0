//! Query-string parsing shared by the read and stream routes: repeatable `topic=`, strict numbers,
//! and unknown parameters refused (they are usually typos).

use axum::http::HeaderMap;

use super::problem::Problem;
use crate::core::topic::PatternSet;

/// A parsed query string.
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses `raw`, refusing parameters not in `allowed`.
    pub fn parse(raw: Option<&str>, allowed: &[&str]) -> Result<Self, Problem> {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.unwrap_or("").as_bytes())
            .into_owned()
            .collect();
        if let Some((name, _)) = pairs
            .iter()
            .find(|(name, _)| !allowed.contains(&name.as_str()))
        {
            return Err(Problem::bad_request(
                "unknown-parameter",
                format!(
                    "unknown query parameter `{name}`; this route takes {}",
                    allowed.join(", ")
                ),
            ));
        }
        Ok(Self { pairs })
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn one(&self, name: &str) -> Result<Option<&str>, Problem> {
        match self.all(name).as_slice() {
            [] => Ok(None),
            [value] => Ok(Some(value)),
            _ => Err(Problem::bad_request(
                "invalid-parameter",
                format!("`{name}` may be given only once"),
            )),
        }
    }

    /// A single text parameter, if present.
    pub fn text(&self, name: &str) -> Result<Option<&str>, Problem> {
        self.one(name)
    }

    /// The `topic=` patterns (at least one).
    pub fn patterns(&self) -> Result<PatternSet, Problem> {
        PatternSet::parse(&self.all("topic"))
            .map_err(|e| Problem::bad_request("invalid-pattern", e.to_string()))?
            .ok_or_else(|| {
                Problem::bad_request(
                    "missing-parameter",
                    "give at least one `topic=` pattern, e.g. topic=orders.* or topic=>",
                )
            })
    }

    /// A non-negative integer parameter, if present, within `min..=max`.
    pub fn number(&self, name: &str, min: u64, max: u64) -> Result<Option<u64>, Problem> {
        let Some(text) = self.one(name)? else {
            return Ok(None);
        };
        match text.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(Problem::bad_request(
                "invalid-parameter",
                format!("`{name}` must be a whole number from {min} to {max}, got `{text}`"),
            )),
        }
    }

    /// Where a stream starts: `Last-Event-ID` (the reconnect state) wins over `after`.
    pub fn start_after(&self, headers: &HeaderMap) -> Result<Option<u64>, Problem> {
        if let Some(value) = headers.get("last-event-id") {
            let text = value.to_str().unwrap_or("");
            return match text.trim().parse::<u64>() {
                Ok(seq) => Ok(Some(seq)),
                // An empty Last-Event-ID means the client saw no id yet: fall back to `after`.
                Err(_) if text.trim().is_empty() => self.number("after", 0, i64::MAX as u64),
                Err(_) => Err(Problem::bad_request(
                    "invalid-parameter",
                    format!("Last-Event-ID must be a seq (a whole number), got `{text}`"),
                )),
            };
        }
        self.number("after", 0, i64::MAX as u64)
    }
}

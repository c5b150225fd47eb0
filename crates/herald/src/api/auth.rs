//! The [`Caller`] extractor: authenticates every `/v1` request from `Authorization: Bearer`, or
//! `?token=` where a client cannot set headers (EventSource).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};

use super::AppState;
use super::problem::Problem;
use crate::auth::{AuthError, Forbidden, Principal};

/// The authenticated caller of a request.
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let credential = credential(&parts.headers, parts.uri.query());
        let from_loopback = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .is_some_and(|ConnectInfo(addr)| addr.ip().is_loopback());
        match state
            .auth
            .authenticate(credential.as_deref(), from_loopback)
            .await
        {
            Ok(principal) => Ok(Caller(principal)),
            Err(AuthError::Store(e)) => Err(e.into()),
            Err(e) => Err(Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                e.to_string(),
            )),
        }
    }
}

/// The credential a request presents: `Authorization: Bearer <credential>`, or `?token=`.
pub(crate) fn credential(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    let header = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let bearer = header.and_then(|h| {
        h.strip_prefix("Bearer ")
            .or_else(|| h.strip_prefix("bearer "))
    });
    if let Some(bearer) = bearer {
        return Some(bearer.trim().to_owned());
    }
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
}

impl From<Forbidden> for Problem {
    fn from(e: Forbidden) -> Self {
        Problem::new(StatusCode::FORBIDDEN, "forbidden", e.0)
    }
}

//! Short-lived client tokens (JWT) for browsers: claims `{"sub", "exp", "publish": [patterns],
//! "subscribe": [patterns]}`, signed with HS256 (`auth.jwt_secret`) or RS256/EdDSA
//! (`auth.jwt_public_key`, PEM text or a path to a PEM file).

use anyhow::{Context, bail};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use serde::Deserialize;

use super::{AuthError, Principal, Scope};
use crate::core::topic::Pattern;

#[derive(Deserialize)]
struct Claims {
    sub: String,
    exp: i64,
    #[serde(default)]
    publish: Vec<String>,
    #[serde(default)]
    subscribe: Vec<String>,
}

/// Checks client tokens against the configured keys.
pub struct TokenVerifier {
    keys: Vec<(DecodingKey, Validation)>,
}

impl TokenVerifier {
    /// A verifier for the configured secret and/or public key; `None` when neither is set.
    pub fn from_config(
        secret: Option<&str>,
        public_key: Option<&str>,
    ) -> anyhow::Result<Option<Self>> {
        let mut keys = Vec::new();
        if let Some(secret) = secret {
            if secret.len() < 32 {
                bail!("auth.jwt_secret must be at least 32 characters");
            }
            keys.push((
                DecodingKey::from_secret(secret.as_bytes()),
                validation(Algorithm::HS256),
            ));
        }
        if let Some(key) = public_key {
            let pem = if key.trim_start().starts_with("-----BEGIN") {
                key.to_owned()
            } else {
                std::fs::read_to_string(key)
                    .with_context(|| format!("auth.jwt_public_key: cannot read {key}"))?
            };
            let decoded = DecodingKey::from_rsa_pem(pem.as_bytes())
                .map(|k| (k, Algorithm::RS256))
                .or_else(|_| {
                    DecodingKey::from_ed_pem(pem.as_bytes()).map(|k| (k, Algorithm::EdDSA))
                })
                .map_err(|_| {
                    anyhow::anyhow!(
                        "auth.jwt_public_key is neither an RSA nor an Ed25519 public key in PEM"
                    )
                })?;
            keys.push((decoded.0, validation(decoded.1)));
        }
        Ok((!keys.is_empty()).then_some(Self { keys }))
    }

    /// The principal a valid token names.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let mut last = AuthError::Invalid;
        for (key, validation) in &self.keys {
            match decode::<Claims>(token, key, validation) {
                Ok(data) => return principal(data.claims),
                Err(e) if matches!(e.kind(), ErrorKind::ExpiredSignature) => {
                    return Err(AuthError::Expired);
                }
                Err(e) if matches!(e.kind(), ErrorKind::InvalidAlgorithm) => continue,
                Err(_) => last = AuthError::Invalid,
            }
        }
        Err(last)
    }
}

fn validation(algorithm: Algorithm) -> Validation {
    let mut v = Validation::new(algorithm);
    v.leeway = 5;
    v.validate_aud = false;
    v.set_required_spec_claims(&["exp", "sub"]);
    v
}

fn principal(claims: Claims) -> Result<Principal, AuthError> {
    let pattern = |p: &String| Pattern::parse(p).map_err(|_| AuthError::Invalid);
    let mut scopes = Vec::new();
    for p in &claims.publish {
        scopes.push(Scope::Publish(pattern(p)?));
    }
    for p in &claims.subscribe {
        scopes.push(Scope::Subscribe(pattern(p)?));
    }
    Ok(Principal::Key {
        id: format!("token:{}", claims.sub),
        scopes,
        expires_ms: Some(claims.exp * 1000),
    })
}

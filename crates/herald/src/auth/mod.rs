//! Who may do what: API keys with scopes (`admin`, `publish:<pattern>`, `subscribe:<pattern>`),
//! and the anonymous local caller of `--dev` mode.

pub mod keys;
pub mod limits;
pub mod tokens;

use std::fmt;

use crate::core::topic::{Pattern, PatternSet};

/// One permission a key carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Everything, including managing keys and subscriptions.
    Admin,
    /// Publishing to topics matching the pattern.
    Publish(Pattern),
    /// Reading and streaming topics matching the pattern.
    Subscribe(Pattern),
}

impl Scope {
    /// Parses `admin`, `publish:<pattern>` or `subscribe:<pattern>`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let pattern = |p: &str| Pattern::parse(p).map_err(|e| format!("scope `{text}`: {e}"));
        match text.split_once(':') {
            None if text == "admin" => Ok(Scope::Admin),
            Some(("publish", p)) => Ok(Scope::Publish(pattern(p)?)),
            Some(("subscribe", p)) => Ok(Scope::Subscribe(pattern(p)?)),
            _ => Err(format!(
                "scope `{text}` is not one of admin, publish:<pattern>, subscribe:<pattern>"
            )),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Admin => f.write_str("admin"),
            Scope::Publish(p) => write!(f, "publish:{p}"),
            Scope::Subscribe(p) => write!(f, "subscribe:{p}"),
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// Anonymous from loopback in `--dev` mode: may do everything.
    Dev,
    /// A key (or token) and its scopes; a token also has an expiry.
    Key {
        id: String,
        scopes: Vec<Scope>,
        expires_ms: Option<i64>,
    },
}

/// Why a caller may not do something; the message names what was missing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Forbidden(pub String);

impl Principal {
    fn is_admin(&self) -> bool {
        match self {
            Principal::Dev => true,
            Principal::Key { scopes, .. } => scopes.contains(&Scope::Admin),
        }
    }

    /// The caller may manage keys and subscriptions.
    pub fn require_admin(&self) -> Result<(), Forbidden> {
        if self.is_admin() {
            return Ok(());
        }
        Err(Forbidden("this needs a key with the `admin` scope".into()))
    }

    /// The caller may publish to `topic`.
    pub fn require_publish(&self, topic: &str) -> Result<(), Forbidden> {
        if self.is_admin()
            || self
                .scopes()
                .any(|s| matches!(s, Scope::Publish(p) if p.matches(topic)))
        {
            return Ok(());
        }
        Err(Forbidden(format!(
            "this key may not publish to `{topic}`; it needs a `publish:` scope matching it"
        )))
    }

    /// The caller may read every topic each of `patterns` can match.
    pub fn require_subscribe(&self, patterns: &PatternSet) -> Result<(), Forbidden> {
        if self.is_admin() {
            return Ok(());
        }
        for wanted in patterns.patterns() {
            if !self
                .scopes()
                .any(|s| matches!(s, Scope::Subscribe(p) if covers(p, wanted)))
            {
                return Err(Forbidden(format!(
                    "this key may not subscribe to `{wanted}`; it needs a `subscribe:` scope covering it"
                )));
            }
        }
        Ok(())
    }

    /// Whether the caller may read `topic` (for filtering lists).
    pub fn may_read(&self, topic: &str) -> bool {
        self.is_admin()
            || self
                .scopes()
                .any(|s| matches!(s, Scope::Subscribe(p) if p.matches(topic)))
    }

    /// When the credential stops being valid (client tokens), in Unix milliseconds.
    pub fn expires_ms(&self) -> Option<i64> {
        match self {
            Principal::Dev => None,
            Principal::Key { expires_ms, .. } => *expires_ms,
        }
    }

    fn scopes(&self) -> impl Iterator<Item = &Scope> {
        match self {
            Principal::Dev => [].iter(),
            Principal::Key { scopes, .. } => scopes.iter(),
        }
    }
}

/// Whether every topic `wanted` matches is also matched by `granted`.
pub fn covers(granted: &Pattern, wanted: &Pattern) -> bool {
    let granted: Vec<&str> = granted.as_str().split('.').collect();
    let wanted: Vec<&str> = wanted.as_str().split('.').collect();
    for (i, g) in granted.iter().enumerate() {
        match (*g, wanted.get(i).copied()) {
            (">", Some(_)) => return true,
            (_, None) => return false,
            (_, Some(">")) => return false,
            ("*", Some(_)) => {}
            (g, Some(w)) if g == w => {}
            _ => return false,
        }
    }
    granted.len() == wanted.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Pattern {
        Pattern::parse(s).unwrap()
    }

    #[test]
    fn coverage() {
        let cases = [
            (">", "a.b.c", true),
            (">", ">", true),
            ("a.>", "a.*", true),
            ("a.>", "a.b.>", true),
            ("a.>", "a", false),
            ("a.>", ">", false),
            ("a.*", "a.b", true),
            ("a.*", "a.*", true),
            ("a.*", "a.>", false),
            ("a.*", "a.b.c", false),
            ("a.b", "a.*", false),
            ("a.b", "a.b", true),
            ("*.x", "y.x", true),
            ("*.x", "*.y", false),
        ];
        for (granted, wanted, want) in cases {
            assert_eq!(
                covers(&p(granted), &p(wanted)),
                want,
                "{granted} covers {wanted}"
            );
        }
    }

    #[test]
    fn scopes_parse_and_check() {
        assert_eq!(Scope::parse("admin").unwrap(), Scope::Admin);
        assert!(Scope::parse("publish:a..b").is_err());
        assert!(Scope::parse("read:a").unwrap_err().contains("not one of"));
        let key = Principal::Key {
            id: "k".into(),
            scopes: vec![
                Scope::parse("publish:orders.*").unwrap(),
                Scope::parse("subscribe:orders.>").unwrap(),
            ],
            expires_ms: None,
        };
        assert!(key.require_publish("orders.1").is_ok());
        assert!(key.require_publish("users.1").is_err());
        assert!(key.require_admin().is_err());
        let wanted = PatternSet::parse(&["orders.*", "orders.1.x"])
            .unwrap()
            .unwrap();
        assert!(key.require_subscribe(&wanted).is_ok());
        let too_wide = PatternSet::parse(&["orders.*", ">"]).unwrap().unwrap();
        assert!(
            key.require_subscribe(&too_wide)
                .unwrap_err()
                .0
                .contains("`>`")
        );
        assert!(Principal::Dev.require_admin().is_ok());
    }
}

use std::sync::Arc;

use crate::core::event::now_ms;
use crate::store::StoreError;
use crate::store::keys::{KeyStore, StoredKey};

/// Why a request is not authenticated.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(
        "credentials are required: send `Authorization: Bearer <key>` (or `?token=<key>` where headers cannot be set)"
    )]
    Missing,
    #[error("the key is not valid")]
    Invalid,
    #[error("the key has been revoked")]
    Revoked,
    #[error("the token has expired; get a fresh one")]
    Expired,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Turns presented credentials into a [`Principal`].
pub struct Authenticator {
    store: Arc<dyn KeyStore>,
    /// The configured `admin_key`, hashed.
    admin_key: Option<Vec<u8>>,
    tokens: Option<tokens::TokenVerifier>,
    dev: bool,
}

impl Authenticator {
    /// Checks keys against `store` and the configured admin key; `dev` lets anonymous loopback
    /// callers in.
    pub fn new(store: Arc<dyn KeyStore>, admin_key: Option<&str>, dev: bool) -> Self {
        Self {
            store,
            admin_key: admin_key.map(keys::hash),
            tokens: None,
            dev,
        }
    }

    /// Also accepts client tokens checked by `tokens`.
    pub fn with_tokens(mut self, tokens: Option<tokens::TokenVerifier>) -> Self {
        self.tokens = tokens;
        self
    }

    /// Whether anonymous loopback access is on.
    pub fn dev(&self) -> bool {
        self.dev
    }

    /// The principal behind `credential`, or the anonymous dev caller when allowed.
    pub async fn authenticate(
        &self,
        credential: Option<&str>,
        from_loopback: bool,
    ) -> Result<Principal, AuthError> {
        let Some(credential) = credential else {
            return if self.dev && from_loopback {
                Ok(Principal::Dev)
            } else {
                Err(AuthError::Missing)
            };
        };
        let presented = keys::hash(credential);
        if self
            .admin_key
            .as_deref()
            .is_some_and(|admin| keys::constant_time_eq(admin, &presented))
        {
            return Ok(Principal::Key {
                id: "admin_key".into(),
                scopes: vec![Scope::Admin],
                expires_ms: None,
            });
        }
        let Some(id) = keys::id_of(credential) else {
            return match &self.tokens {
                Some(tokens) => tokens.verify(credential),
                None => Err(AuthError::Invalid),
            };
        };
        let stored = self.store.key(&id).await?.ok_or(AuthError::Invalid)?;
        if !keys::constant_time_eq(&stored.hash, &presented) {
            return Err(AuthError::Invalid);
        }
        if stored.revoked_ms.is_some() {
            return Err(AuthError::Revoked);
        }
        let scopes = stored
            .scopes
            .iter()
            .filter_map(|s| Scope::parse(s).ok())
            .collect();
        Ok(Principal::Key {
            id: stored.id,
            scopes,
            expires_ms: None,
        })
    }

    /// Creates a key; returns what is stored and the key itself (to show once).
    pub async fn create_key(
        &self,
        scopes: &[Scope],
        description: Option<String>,
    ) -> Result<(StoredKey, String), StoreError> {
        let new = keys::generate();
        let stored = StoredKey {
            id: new.id,
            hash: new.hash,
            scopes: scopes.iter().map(Scope::to_string).collect(),
            description,
            created_ms: now_ms(),
            revoked_ms: None,
        };
        self.store.insert_key(&stored).await?;
        Ok((stored, new.key))
    }

    /// On a first start with no way in (no keys, no configured admin key, not `--dev`), creates
    /// an admin key and returns it, to be shown once.
    pub async fn first_admin_key(&self) -> Result<Option<String>, StoreError> {
        if self.dev || self.admin_key.is_some() || !self.store.keys().await?.is_empty() {
            return Ok(None);
        }
        let (_, key) = self
            .create_key(&[Scope::Admin], Some("created at first start".into()))
            .await?;
        Ok(Some(key))
    }

    /// The key store.
    pub fn store(&self) -> &Arc<dyn KeyStore> {
        &self.store
    }
}

#[cfg(test)]
mod authenticator_tests {
    use super::*;

    /// A key store with no keys.
    struct NoKeys;

    #[async_trait::async_trait]
    impl KeyStore for NoKeys {
        async fn insert_key(&self, _: &StoredKey) -> Result<(), StoreError> {
            Ok(())
        }
        async fn key(&self, _: &str) -> Result<Option<StoredKey>, StoreError> {
            Ok(None)
        }
        async fn keys(&self) -> Result<Vec<StoredKey>, StoreError> {
            Ok(Vec::new())
        }
        async fn revoke_key(&self, _: &str, _: i64) -> Result<bool, StoreError> {
            Ok(false)
        }
    }

    #[tokio::test]
    async fn dev_mode_admits_anonymous_callers_from_loopback_only() {
        let dev = Authenticator::new(Arc::new(NoKeys), None, true);
        assert_eq!(dev.authenticate(None, true).await.unwrap(), Principal::Dev);
        assert!(matches!(
            dev.authenticate(None, false).await,
            Err(AuthError::Missing)
        ));
        let strict = Authenticator::new(Arc::new(NoKeys), Some("configured-admin-key"), false);
        assert!(matches!(
            strict.authenticate(None, true).await,
            Err(AuthError::Missing)
        ));
        assert!(matches!(
            strict
                .authenticate(Some("configured-admin-key"), false)
                .await,
            Ok(Principal::Key { .. })
        ));
        assert!(matches!(
            strict
                .authenticate(Some("configured-admin-kez"), false)
                .await,
            Err(AuthError::Invalid)
        ));
        assert_eq!(
            strict.first_admin_key().await.unwrap(),
            None,
            "an admin key is configured"
        );
    }
}

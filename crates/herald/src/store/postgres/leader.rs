//! Leadership: which node of a cluster delivers webhooks. One PostgreSQL advisory lock, held on
//! a connection of its own: the node holding it leads. When that node dies its connection
//! closes and PostgreSQL releases the lock, so another node takes over; when the node loses its
//! connection it stops leading at once, before PostgreSQL can hand the lock to anyone else.

use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::PgConnection;
use tokio_util::sync::CancellationToken;

use super::{PostgresStore, backend};
use crate::store::StoreError;

/// The advisory lock's key ("herald webhooks" in ASCII, folded into 63 bits).
const WEBHOOK_LOCK: i64 = 0x6865_7261_6c64_7768;
/// How often the leader checks that its lock connection is alive.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// How long a check may take before the leader assumes it lost the connection.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

impl PostgresStore {
    /// Tries to become the cluster's webhook leader. On success, returns a token that is
    /// cancelled as soon as this node can no longer be sure it leads; cancelling it steps down.
    pub async fn try_lead(&self) -> Result<Option<CancellationToken>, StoreError> {
        let options = self.pool().connect_options();
        let mut conn = PgConnection::connect_with(&options)
            .await
            .map_err(backend)?;
        let leads: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(WEBHOOK_LOCK)
            .fetch_one(&mut conn)
            .await
            .map_err(backend)?;
        if !leads {
            let _ = conn.close().await;
            return Ok(None);
        }
        let token = CancellationToken::new();
        tokio::spawn(hold(conn, token.clone()));
        Ok(Some(token))
    }
}

/// Keeps the lock's connection until the token is cancelled or the connection fails.
async fn hold(mut conn: PgConnection, token: CancellationToken) {
    let mut tick = tokio::time::interval(CHECK_EVERY);
    loop {
        tokio::select! {
            () = token.cancelled() => {
                // Closing the connection releases the lock.
                let _ = conn.close().await;
                return;
            }
            _ = tick.tick() => {
                let check = tokio::time::timeout(CHECK_TIMEOUT, conn.ping()).await;
                if !matches!(check, Ok(Ok(()))) {
                    tracing::warn!("lost the webhook leader lock's connection; stepping down");
                    token.cancel();
                    return;
                }
            }
        }
    }
}

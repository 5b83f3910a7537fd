//! Propagation between replicas sharing PostgreSQL.
//!
//! Every write transaction sends `NOTIFY pennon_changes, '<environment>:<revision>'` (delivered only if it
//! commits). Every replica LISTENs and catches the environment's snapshot up from the change log, which
//! pushes the changes to its SSE subscribers. A change to an environment itself (created, renamed, new
//! allowed origins, deleted) sends `NOTIFY pennon_environments, '<environment>'`, on which every replica
//! reloads its list of environments and their allowed origins. A change to a guard sends
//! `NOTIFY pennon_guards, '<environment>'`, on which every replica reloads the metrics guards watch. A change
//! to credentials (an ended session, an API token created or revoked) sends `NOTIFY pennon_credentials`, on
//! which the listener wakes the reload of the credentials kept in memory (`credentials`, owned by the app,
//! which reloads them). Notifications can be lost while a replica's listening
//! connection is down; on reconnecting it catches every environment up by revision, and the periodic
//! refresh is the last safety net.

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret as _, SecretString};
use sqlx::postgres::PgListener;

use crate::delivery::snapshots::Snapshots;
use tokio::sync::Notify;

use crate::store::{CHANNEL, CREDENTIALS_CHANNEL, ENVIRONMENTS_CHANNEL, GUARDS_CHANNEL};

/// Listens until the task is dropped, reconnecting with backoff. `credentials` is woken on every credential
/// change and after every reconnection.
pub async fn listen(database_url: SecretString, snapshots: Arc<Snapshots>, credentials: Arc<Notify>) {
    let mut backoff = Duration::from_millis(200);
    loop {
        match PgListener::connect(database_url.expose_secret()).await {
            Ok(mut listener) => {
                if let Err(e) =
                    listener.listen_all([CHANNEL, ENVIRONMENTS_CHANNEL, GUARDS_CHANNEL, CREDENTIALS_CHANNEL]).await
                {
                    tracing::warn!(error = %e, "could not LISTEN for changes");
                } else {
                    backoff = Duration::from_millis(200);
                    catch_up_all(&snapshots).await;
                    credentials.notify_one();
                    receive(&mut listener, &snapshots, &credentials).await;
                }
            }
            Err(e) => tracing::debug!(error = %e, "change listener cannot connect; retrying"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn receive(listener: &mut PgListener, snapshots: &Snapshots, credentials: &Notify) {
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) if notification.channel() == CREDENTIALS_CHANNEL => credentials.notify_one(),
            Ok(Some(notification)) if notification.channel() == ENVIRONMENTS_CHANNEL => catch_up_all(snapshots).await,
            Ok(Some(notification)) if notification.channel() == GUARDS_CHANNEL => {
                if let Err(e) = snapshots.reload_watched().await {
                    tracing::debug!(error = %e, "could not reload the metrics guards watch; the refresh loop will");
                }
            }
            Ok(Some(notification)) => {
                let payload = notification.payload();
                let environment = payload.rsplit_once(':').map_or(payload, |(env, _)| env);
                if let Err(e) = snapshots.catch_up(environment).await {
                    tracing::warn!(environment, error = %e, "could not catch up after a notification");
                }
            }
            // The connection was lost and re-established: notifications may have been missed.
            Ok(None) => {
                catch_up_all(snapshots).await;
                credentials.notify_one();
            }
            Err(e) => {
                tracing::warn!(error = %e, "change listener lost its connection");
                return;
            }
        }
    }
}

async fn catch_up_all(snapshots: &Snapshots) {
    if let Err(e) = snapshots.refresh_all().await {
        tracing::debug!(error = %e, "could not catch every environment up; the refresh loop will retry");
    }
}

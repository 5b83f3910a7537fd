//! What happens to a change request: approvals (the last one applies it), rejection, cancellation, and
//! rebasing onto a config that moved on. Who may do which is the API's to check; the store checks the
//! request's state, each in one transaction with its audit row.

use serde_json::json;

use super::change_requests::{ChangeRequest, RequestState, fetch_request};
use super::configs::{fetch_config, prepare_edit, write_edit};
use super::write::{Actor, Audit, WriteTx};
use super::{Store, StoreError, StoreResult, to_json};
use crate::domain::config_diff;

/// Locks a change request's row for the transaction and reads it; refused unless it still waits.
async fn lock_open(tx: &mut WriteTx, id: i64) -> StoreResult<ChangeRequest> {
    sqlx::query("UPDATE change_requests SET updated_at = updated_at WHERE id = $1").bind(id).execute(tx.conn()).await?;
    let request = fetch_request(tx.conn(), id).await?;
    if !request.state.is_open() {
        return Err(StoreError::Conflict(format!("change request {id} is {} already", request.state.as_str())));
    }
    Ok(request)
}

fn stale(request: &ChangeRequest) -> StoreError {
    StoreError::Conflict(format!(
        "change request {} is stale: it is based on version {} and the config is at version {} now; its author \
         must rebase it",
        request.id, request.base.version, request.current_version
    ))
}

fn audit(actor: &Actor, action: &str, request: &ChangeRequest) -> Audit {
    Audit::new(actor, action, "change_request", request.id.to_string())
        .on(Some(&request.flag), Some(&request.environment))
}

impl Store {
    /// Approves a change request. When its approvals reach what the environment requires (at least one), it
    /// is applied in the same transaction, if the config is still at the version it was based on. A stale
    /// request is refused (409) and nothing is recorded. Returns the request and, when it was applied, the
    /// environments' new revisions.
    pub async fn approve_change_request(
        &self,
        id: i64,
        actor: &Actor,
    ) -> StoreResult<(ChangeRequest, Option<Vec<(String, u64)>>)> {
        let mut tx = self.begin_write().await?;
        let request = lock_open(&mut tx, id).await?;
        if request.state == RequestState::Stale {
            return Err(stale(&request));
        }
        if request.approvals.iter().any(|a| a.actor == actor.as_str()) {
            return Err(StoreError::Conflict(format!("change request {id} has your approval already")));
        }
        let at = tx.at();
        sqlx::query("INSERT INTO change_request_approvals (request, actor, at) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(actor.as_str())
            .bind(at)
            .execute(tx.conn())
            .await?;
        let approvers: Vec<&str> = request.approvals.iter().map(|a| a.actor.as_str()).chain([actor.as_str()]).collect();
        let approved = audit(actor, "change_request.approve", &request)
            .detail(json!({ "approvals": approvers.len(), "approvals_required": request.approvals_required }));
        if approvers.len() < request.approvals_required.max(1) as usize {
            sqlx::query("UPDATE change_requests SET updated_at = $2 WHERE id = $1")
                .bind(id)
                .bind(at)
                .execute(tx.conn())
                .await?;
            let after = fetch_request(tx.conn(), id).await?;
            tx.commit(approved).await?;
            return Ok((after, None));
        }
        let proposed = request.proposed.clone();
        let prepared =
            prepare_edit(&mut tx, &request.flag, &request.environment, Some(request.base.version), |_, _| Ok(proposed))
                .await
                .map_err(|e| match e {
                    StoreError::VersionConflict { .. } => stale(&request),
                    other => other,
                })?;
        let (before, record) = write_edit(&mut tx, prepared, &request.action, actor).await?;
        sqlx::query(
            "UPDATE change_requests SET state = 'applied', decided_by = $2, applied_version = $3, updated_at = $4 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(actor.as_str())
        .bind(record.config.version as i64)
        .bind(at)
        .execute(tx.conn())
        .await?;
        tx.audit(&approved).await?;
        let after = fetch_request(tx.conn(), id).await?;
        let applied = Audit::new(actor, &request.action, "config", format!("{}/{}", request.flag, request.environment))
            .on(Some(&request.flag), Some(&request.environment))
            .change(Some(&before), Some(&record.config), Some(record.config.version))
            .detail(json!({ "change_request": {
                "id": id, "author": request.author, "approvers": approvers, "comment": request.comment } }));
        let revisions = tx.commit(applied).await?;
        Ok((after, Some(revisions)))
    }

    /// Rejects a change request with a reason: it is never applied.
    pub async fn reject_change_request(&self, id: i64, actor: &Actor, reason: &str) -> StoreResult<ChangeRequest> {
        self.close_request(id, actor, "rejected", Some(reason)).await
    }

    /// Cancels a change request.
    pub async fn cancel_change_request(&self, id: i64, actor: &Actor) -> StoreResult<ChangeRequest> {
        self.close_request(id, actor, "cancelled", None).await
    }

    async fn close_request(
        &self,
        id: i64,
        actor: &Actor,
        state: &'static str,
        reason: Option<&str>,
    ) -> StoreResult<ChangeRequest> {
        let mut tx = self.begin_write().await?;
        let request = lock_open(&mut tx, id).await?;
        sqlx::query(
            "UPDATE change_requests SET state = $2, decided_by = $3, decision = $4, updated_at = $5 WHERE id = $1",
        )
        .bind(id)
        .bind(state)
        .bind(actor.as_str())
        .bind(reason)
        .bind(tx.at())
        .execute(tx.conn())
        .await?;
        let after = fetch_request(tx.conn(), id).await?;
        let action = if state == "rejected" { "change_request.reject" } else { "change_request.cancel" };
        tx.commit(audit(actor, action, &request).detail(json!({ "reason": reason }))).await?;
        Ok(after)
    }

    /// Carries a stale change request over to the config as it is now (see [`config_diff::rebase`]): the
    /// result is validated as the change would be, its approvals start again. Refused (409) when it is not
    /// stale, or when the config changed the same fields meanwhile.
    pub async fn rebase_change_request(&self, id: i64, actor: &Actor) -> StoreResult<ChangeRequest> {
        let mut tx = self.begin_write().await?;
        let request = lock_open(&mut tx, id).await?;
        if request.state != RequestState::Stale {
            return Err(StoreError::Conflict(format!(
                "change request {id} is based on the current version already: there is nothing to rebase"
            )));
        }
        let current = fetch_config(tx.conn(), &request.flag, &request.environment).await?.config;
        let merged = config_diff::rebase(&request.base, &request.proposed, &current).map_err(|field| {
            StoreError::Conflict(format!(
                "change request {id} cannot be rebased: `{field}` was changed meanwhile too; cancel it and make the \
                 change again"
            ))
        })?;
        let prepared =
            prepare_edit(&mut tx, &request.flag, &request.environment, Some(current.version), |_, _| Ok(merged))
                .await?;
        sqlx::query("DELETE FROM change_request_approvals WHERE request = $1").bind(id).execute(tx.conn()).await?;
        sqlx::query(
            "UPDATE change_requests SET base_version = $2, base_config = $3, proposed = $4, updated_at = $5 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(prepared.current.version as i64)
        .bind(to_json(&prepared.current))
        .bind(to_json(&prepared.next))
        .bind(tx.at())
        .execute(tx.conn())
        .await?;
        let after = fetch_request(tx.conn(), id).await?;
        let rebased = audit(actor, "change_request.rebase", &request)
            .change(Some(&request.proposed), Some(&after.proposed), None)
            .detail(json!({ "from_version": request.base.version, "to_version": current.version }));
        tx.commit(rebased).await?;
        Ok(after)
    }
}

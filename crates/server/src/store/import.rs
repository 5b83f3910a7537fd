//! Importing flags from another system (Unleash): segments, flag definitions and one environment's configs,
//! created or updated in ONE transaction, each change with its own audit row, the whole import with one more.
//! A dry run makes the same writes and rolls them back, so it reports exactly what a real run would do.

use pennon_engine::{Flag, FlagConfig, Segment};
use serde::Serialize;
use serde_json::Value;

use super::flags::configs_of as configs_of_flag;
use super::flags::{fetch_flag, insert_flag};
use super::snapshot::ObjectKind;
use super::write::{Actor, Audit, WriteTx};
use super::{Store, StoreError, StoreResult, to_json};

/// What an import did (or would do) to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportAction {
    /// It did not exist.
    Create,
    /// It existed and changed.
    Update,
    /// It existed as imported.
    Unchanged,
}

/// One object an import writes.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImportChange {
    /// `segment`, `flag` (the definition) or `config` (the environment's config).
    pub resource: &'static str,
    /// The key.
    pub key: String,
    /// What happens to it.
    pub action: ImportAction,
}

/// An import's objects: segments first (configs name them), then the flags' definitions, then their configs.
#[derive(Debug, Clone)]
pub struct ImportPlan<'a> {
    /// The environment whose configs are written.
    pub environment: &'a str,
    /// Segments (their included and excluded keys, which imports do not carry, are kept when they exist).
    pub segments: &'a [Segment],
    /// Definitions (an existing flag keeps its salt and its other variants) with their configs.
    pub flags: Vec<(&'a Flag, &'a FlagConfig)>,
    /// The import's own audit row's `action` and detail (e.g. the report).
    pub action: &'a str,
    /// The detail of the import's own audit row.
    pub detail: Value,
}

/// A problem with one flag of an import, by its position in the plan.
fn at_flag(i: usize, e: StoreError) -> StoreError {
    match e {
        StoreError::Invalid(problems) => StoreError::Invalid(
            problems
                .into_iter()
                .map(|p| pennon_engine::Problem { path: format!("flags[{i}].{}", p.path), message: p.message })
                .collect(),
        ),
        other => other,
    }
}

impl Store {
    /// Writes (or, with `dry_run`, tries and rolls back) an import. Returns what happens to each object and
    /// the new revision of every environment touched (none on a dry run). Invalid configs are refused with
    /// paths `flags[i].<config path>`.
    pub async fn import(
        &self,
        plan: &ImportPlan<'_>,
        actor: &Actor,
        dry_run: bool,
    ) -> StoreResult<(Vec<ImportChange>, Vec<(String, u64)>)> {
        let mut tx = self.begin_write().await?;
        let env: Option<String> = sqlx::query_scalar("SELECT key FROM environments WHERE key = $1")
            .bind(plan.environment)
            .fetch_optional(tx.conn())
            .await?;
        if env.is_none() {
            return Err(StoreError::NotFound(format!("environment \"{}\"", plan.environment)));
        }
        let mut changes = Vec::new();
        for segment in plan.segments {
            let action = upsert_segment(&mut tx, segment, actor).await?;
            changes.push(ImportChange { resource: "segment", key: segment.key.clone(), action });
        }
        // Every definition before any config: a config may name a flag later in the plan as a prerequisite.
        for (i, (flag, _)) in plan.flags.iter().enumerate() {
            let action = upsert_definition(&mut tx, i, flag, actor).await?;
            changes.push(ImportChange { resource: "flag", key: flag.key.clone(), action });
        }
        for (i, (flag, config)) in plan.flags.iter().enumerate() {
            let current = super::configs::fetch_config(tx.conn(), &flag.key, plan.environment).await?;
            let same = |c: &FlagConfig| {
                let mut c = c.clone();
                c.version = current.config.version;
                c == current.config
            };
            let action = if same(config) {
                ImportAction::Unchanged
            } else {
                let wanted = (*config).clone();
                let (before, record) = self
                    .edit_config_in(&mut tx, &flag.key, plan.environment, None, "config.import", actor, |_, _| {
                        Ok(wanted)
                    })
                    .await
                    .map_err(|e| at_flag(i, e))?;
                let audit = Audit::new(actor, "config.import", "config", format!("{}/{}", flag.key, plan.environment))
                    .on(Some(&flag.key), Some(plan.environment))
                    .change(Some(&before), Some(&record.config), Some(record.config.version));
                tx.audit(&audit).await?;
                ImportAction::Update
            };
            changes.push(ImportChange { resource: "config", key: flag.key.clone(), action });
        }
        if dry_run {
            // Dropping the transaction rolls every write back.
            return Ok((changes, Vec::new()));
        }
        let audit = Audit::new(actor, plan.action, "environment", plan.environment)
            .on(None, Some(plan.environment))
            .detail(plan.detail.clone());
        let revisions = tx.commit(audit).await?;
        Ok((changes, revisions))
    }
}

/// Creates the segment, or replaces an existing one's conditions, name and description; with its audit row.
async fn upsert_segment(tx: &mut WriteTx, segment: &Segment, actor: &Actor) -> StoreResult<ImportAction> {
    let action = match super::segments::fetch(tx.conn(), &segment.key).await {
        Err(StoreError::NotFound(_)) => {
            let mut next = segment.clone();
            next.version = 1;
            sqlx::query("INSERT INTO segments (key, version, body, created_at, updated_at) VALUES ($1, 1, $2, $3, $3)")
                .bind(&next.key)
                .bind(to_json(&next))
                .bind(tx.at())
                .execute(tx.conn())
                .await?;
            super::segments::announce(tx, &next.key, Some(&next)).await?;
            tx.audit(&Audit::new(actor, "segment.create", "segment", &next.key).change(None, Some(&next), Some(1)))
                .await?;
            ImportAction::Create
        }
        Err(e) => return Err(e),
        Ok(current) => {
            let before = current.segment;
            let mut next = segment.clone();
            next.included.clone_from(&before.included);
            next.excluded.clone_from(&before.excluded);
            next.version = before.version;
            if next == before {
                ImportAction::Unchanged
            } else {
                next.version = before.version + 1;
                sqlx::query("UPDATE segments SET version = $2, body = $3, updated_at = $4 WHERE key = $1")
                    .bind(&next.key)
                    .bind(next.version as i64)
                    .bind(to_json(&next))
                    .bind(tx.at())
                    .execute(tx.conn())
                    .await?;
                super::segments::announce(tx, &next.key, Some(&next)).await?;
                let audit = Audit::new(actor, "segment.update", "segment", &next.key).change(
                    Some(&before),
                    Some(&next),
                    Some(next.version),
                );
                tx.audit(&audit).await?;
                ImportAction::Update
            }
        }
    };
    Ok(action)
}

/// Creates the flag, or merges the imported variants into an existing one of the same kind; with its audit
/// row.
async fn upsert_definition(tx: &mut WriteTx, i: usize, flag: &Flag, actor: &Actor) -> StoreResult<ImportAction> {
    let action = match fetch_flag(tx.conn(), &flag.key).await {
        Err(StoreError::NotFound(_)) => {
            insert_flag(tx, flag, actor).await?;
            let audit = Audit::new(actor, "flag.create", "flag", &flag.key).on(Some(&flag.key), None).change(
                None,
                Some(flag),
                Some(1),
            );
            tx.audit(&audit).await?;
            ImportAction::Create
        }
        Err(e) => return Err(e),
        Ok(current) => {
            if current.flag.kind != flag.kind {
                let message = format!(
                    "flag \"{}\" exists as a {} flag; the import makes a {} flag",
                    flag.key,
                    current.flag.kind.as_str(),
                    flag.kind.as_str()
                );
                return Err(StoreError::Invalid(vec![pennon_engine::Problem {
                    path: format!("flags[{i}].kind"),
                    message,
                }]));
            }
            // The imported variants replace those of the same key; the flag's others stay, since
            // other environments' configs may serve them.
            let before = current.flag.clone();
            let mut next = current.flag;
            next.name.clone_from(&flag.name);
            next.description.clone_from(&flag.description);
            for v in &flag.variants {
                match next.variants.iter_mut().find(|w| w.key == v.key) {
                    Some(w) => *w = v.clone(),
                    None => next.variants.push(v.clone()),
                }
            }
            if next == before {
                ImportAction::Unchanged
            } else {
                let version = current.version + 1;
                sqlx::query(
                    "UPDATE flags SET name = $2, description = $3, variants = $4, version = $5, updated_at = $6 \
                     WHERE key = $1",
                )
                .bind(&next.key)
                .bind(&next.name)
                .bind(&next.description)
                .bind(to_json(&next.variants))
                .bind(version as i64)
                .bind(tx.at())
                .execute(tx.conn())
                .await?;
                if !next.archived {
                    for c in configs_of_flag(tx.conn(), &next.key).await? {
                        let env = c.environment.clone();
                        let payload = to_json(&pennon_engine::SnapshotFlag { definition: next.clone(), config: c });
                        tx.changed(&env, ObjectKind::Flag, &next.key, Some(payload)).await?;
                    }
                }
                let audit = Audit::new(actor, "flag.update", "flag", &next.key).on(Some(&next.key), None).change(
                    Some(&before),
                    Some(&next),
                    Some(version),
                );
                tx.audit(&audit).await?;
                ImportAction::Update
            }
        }
    };
    Ok(action)
}

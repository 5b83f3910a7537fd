//! The PostgreSQL and SQLite migrations (`migrations/postgres`, `migrations/sqlite`) stay in step: applied to
//! fresh databases, both give the same tables, the same columns, and the same type and nullability for each.

use std::collections::BTreeMap;

use sqlx::Connection;

use crate::helpers::{Db, TestDatabase};

/// A column's type (lower case) and whether it takes NULL, by table and column name.
type Schema = BTreeMap<(String, String), (String, bool)>;

/// Bookkeeping of sqlx's migrator, not part of Pennon's schema.
const MIGRATIONS_TABLE: &str = "_sqlx_migrations";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_environments_keep_the_order_they_were_made_in_postgres() {
    existing_environments_keep_the_order_they_were_made_in(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_environments_keep_the_order_they_were_made_in_sqlite() {
    existing_environments_keep_the_order_they_were_made_in(Db::Sqlite).await;
}

/// Environments made before they had a position get one from the order they were made in (ties by key), so
/// an upgrade does not reorder the dashboard.
async fn existing_environments_keep_the_order_they_were_made_in(db: Db) {
    let database = TestDatabase::new(db).await;
    let folder = match db {
        Db::Postgres => "postgres",
        Db::Sqlite => "sqlite",
    };
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../migrations").join(folder);
    let all = sqlx::migrate::Migrator::new(path).await.expect("the migrations");
    let before_positions: Vec<_> = all.migrations.iter().filter(|m| m.version < 6).cloned().collect();
    let old = sqlx::migrate::Migrator { migrations: before_positions.into(), ..sqlx::migrate::Migrator::DEFAULT };
    let insert = "INSERT INTO environments (key, name, production, allowed_origins, created_at, updated_at) \
                  VALUES ($1, $1, 0, '[]', $2, $2)";
    let made: [(&str, i64); 4] = [("production", 100), ("staging", 200), ("development", 300), ("alpha", 300)];
    match db {
        Db::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&database.url).await.expect("connect");
            old.run(&mut conn).await.expect("the earlier migrations apply");
            for (key, at) in made {
                sqlx::query(insert).bind(key).bind(at).execute(&mut conn).await.expect("insert");
            }
            conn.close().await.expect("close");
        }
        Db::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&database.url).await.expect("connect");
            old.run(&mut conn).await.expect("the earlier migrations apply");
            for (key, at) in made {
                sqlx::query(insert).bind(key).bind(at).execute(&mut conn).await.expect("insert");
            }
            conn.close().await.expect("close");
        }
    }
    let store = pennon_server::store::Store::connect_lazy(&database.url, 1).expect("a database URL");
    store.migrate().await.expect("the remaining migrations apply");
    let listed: Vec<_> = store.list_environments().await.unwrap().into_iter().map(|e| (e.key, e.position)).collect();
    store.close().await;
    let expected = [("production", 0), ("staging", 1), ("alpha", 2), ("development", 3)];
    assert_eq!(listed, expected.map(|(k, p)| (k.to_owned(), p)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_and_sqlite_have_the_same_tables_and_columns() {
    let postgres = migrated_schema(Db::Postgres).await;
    let sqlite = migrated_schema(Db::Sqlite).await;
    assert!(postgres.contains_key(&("flags".to_owned(), "key".to_owned())), "the schema was read: {postgres:?}");
    let differences = differences(&postgres, &sqlite);
    assert!(differences.is_empty(), "the migrations differ:\n{}", differences.join("\n"));
}

/// What one schema has that the other has not, a line each.
fn differences(postgres: &Schema, sqlite: &Schema) -> Vec<String> {
    let mut out = Vec::new();
    for ((table, column), pg) in postgres {
        match sqlite.get(&(table.clone(), column.clone())) {
            None => out.push(format!("{table}.{column}: only in PostgreSQL")),
            Some(lite) if lite != pg => {
                out.push(format!("{table}.{column}: {} in PostgreSQL, {} in SQLite", describe(pg), describe(lite)));
            }
            Some(_) => {}
        }
    }
    for (table, column) in sqlite.keys().filter(|key| !postgres.contains_key(*key)) {
        out.push(format!("{table}.{column}: only in SQLite"));
    }
    out
}

fn describe((ty, nullable): &(String, bool)) -> String {
    format!("{ty} {}", if *nullable { "NULL" } else { "NOT NULL" })
}

/// Applies the migrations the server applies to a fresh database and reads back its schema.
async fn migrated_schema(db: Db) -> Schema {
    let database = TestDatabase::new(db).await;
    let store = pennon_server::store::Store::connect_lazy(&database.url, 1).expect("a database URL");
    store.migrate().await.expect("migrations apply");
    store.close().await;
    match db {
        Db::Postgres => postgres_schema(&database.url).await,
        Db::Sqlite => sqlite_schema(&database.url).await,
    }
}

async fn postgres_schema(url: &str) -> Schema {
    let mut conn = sqlx::PgConnection::connect(url).await.expect("connect to the test database");
    let rows: Vec<(String, String, String, bool)> = sqlx::query_as(
        "SELECT c.table_name::text, c.column_name::text, c.data_type::text, c.is_nullable::text = 'YES' \
         FROM information_schema.columns c \
         JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
         WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' AND c.table_name <> $1",
    )
    .bind(MIGRATIONS_TABLE)
    .fetch_all(&mut conn)
    .await
    .expect("read the PostgreSQL schema");
    rows.into_iter().map(|(table, column, ty, nullable)| ((table, column), (ty, nullable))).collect()
}

async fn sqlite_schema(url: &str) -> Schema {
    let mut conn = sqlx::SqliteConnection::connect(url).await.expect("open the test database");
    let rows: Vec<(String, String, String, i64, i64)> = sqlx::query_as(
        "SELECT m.name, p.name, p.type, p.\"notnull\", p.pk \
         FROM sqlite_master m JOIN pragma_table_info(m.name) p \
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> $1",
    )
    .bind(MIGRATIONS_TABLE)
    .fetch_all(&mut conn)
    .await
    .expect("read the SQLite schema");
    rows.into_iter()
        .map(|(table, column, ty, not_null, pk)| {
            // An `INTEGER PRIMARY KEY` is SQLite's 64-bit rowid: PostgreSQL's `BIGINT` identity column. SQLite
            // lets other primary key columns hold NULL unless they say NOT NULL, which PostgreSQL never does:
            // that quirk is not a difference in the schema.
            let ty = if ty.eq_ignore_ascii_case("integer") && pk > 0 { "bigint".to_owned() } else { ty.to_lowercase() };
            ((table, column), (ty, not_null == 0 && pk == 0))
        })
        .collect()
}

//! The schema, as numbered migrations applied in order; `PRAGMA user_version`
//! records how many have run.

/// Migration `i` brings a database from version `i` to `i + 1`. Append only:
/// a released migration never changes.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: namespaces, resources and the append-only history.
    r#"
    CREATE TABLE namespaces (
        id INTEGER PRIMARY KEY,
        project TEXT NOT NULL,
        environment TEXT NOT NULL,
        revision INTEGER NOT NULL DEFAULT 0,
        allocation_salt TEXT,
        create_time TEXT NOT NULL,
        update_time TEXT NOT NULL,
        UNIQUE (project, environment)
    );
    CREATE TABLE resources (
        namespace_id INTEGER NOT NULL REFERENCES namespaces (id),
        collection TEXT NOT NULL,
        id TEXT NOT NULL,
        position INTEGER NOT NULL,
        document TEXT NOT NULL,
        revision INTEGER NOT NULL,
        etag TEXT NOT NULL,
        create_time TEXT NOT NULL,
        update_time TEXT NOT NULL,
        created_by TEXT NOT NULL,
        updated_by TEXT NOT NULL,
        PRIMARY KEY (namespace_id, collection, id)
    );
    CREATE TABLE history (
        namespace_id INTEGER NOT NULL REFERENCES namespaces (id),
        revision INTEGER NOT NULL,
        time TEXT NOT NULL,
        actor TEXT NOT NULL,
        method TEXT NOT NULL,
        path TEXT NOT NULL,
        before TEXT,
        after TEXT,
        PRIMARY KEY (namespace_id, revision)
    );
    CREATE TRIGGER history_no_update BEFORE UPDATE ON history
        BEGIN SELECT RAISE(ABORT, 'history is append-only'); END;
    CREATE TRIGGER history_no_delete BEFORE DELETE ON history
        BEGIN SELECT RAISE(ABORT, 'history is append-only'); END;
    "#,
    // 2: records, a dialect's own documents beside the config (never part of it).
    r#"
    CREATE TABLE records (
        namespace_id INTEGER NOT NULL REFERENCES namespaces (id),
        collection TEXT NOT NULL,
        id TEXT NOT NULL,
        position INTEGER NOT NULL,
        document TEXT NOT NULL,
        revision INTEGER NOT NULL,
        etag TEXT NOT NULL,
        create_time TEXT NOT NULL,
        update_time TEXT NOT NULL,
        created_by TEXT NOT NULL,
        updated_by TEXT NOT NULL,
        PRIMARY KEY (namespace_id, collection, id)
    );
    "#,
];

//! Schema migrations, one list for both engines.
//!
//! Migration N (1-based) moves the schema from version N-1 to N. They are applied in
//! order at start, each in its own transaction together with its version bump, so a
//! crash leaves the database at a clean version. Never edit a released migration:
//! append. The version is SQLite's `user_version`, or PostgreSQL's `schema_version`
//! table.
//!
//! The DDL is written once in SQLite's words and expanded for PostgreSQL by [`expand`]:
//! `INTEGER` is `BIGINT`, `BLOB` is `BYTEA`, an `INTEGER PRIMARY KEY` (SQLite's row id,
//! assigned when not given) an identity column, `WITHOUT ROWID` dropped. What has no
//! common form sits between `--@sqlite` / `--@postgres` and `--@end` lines, kept for
//! that engine only.

use rusqlite::Connection;

use super::sql::Conn;
use crate::error::ServerError;

const MIGRATIONS: &[&str] = &[
    // 1: identity, bindings, devices, tokens, replay cache, idempotency, audit, reports.
    r#"
    CREATE TABLE users (
        user_id       TEXT PRIMARY KEY,
        display_name  TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL
    );
    CREATE TABLE bindings (
        bid           TEXT PRIMARY KEY,
        bnonce        BLOB NOT NULL,
        user_id       TEXT NOT NULL REFERENCES users(user_id),
        expires_at_ms INTEGER NOT NULL,
        used          INTEGER NOT NULL DEFAULT 0,
        device_id     TEXT,
        created_at_ms INTEGER NOT NULL
    );
    CREATE TABLE devices (
        device_id       TEXT PRIMARY KEY,
        user_id         TEXT NOT NULL REFERENCES users(user_id),
        public_key      BLOB NOT NULL,
        jkt             TEXT NOT NULL,
        assurance       TEXT NOT NULL,
        attestation     TEXT,
        device_name     TEXT NOT NULL,
        status          TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
        counter         INTEGER NOT NULL DEFAULT 0,
        created_at_ms   INTEGER NOT NULL,
        last_used_at_ms INTEGER NOT NULL,
        revoked_at_ms   INTEGER
    );
    CREATE INDEX devices_by_user ON devices(user_id);
    CREATE INDEX devices_by_jkt ON devices(jkt);
    -- Only the SHA-256 of a token is kept: a copy of this table grants nothing.
    CREATE TABLE access_tokens (
        token_hash    BLOB PRIMARY KEY,
        device_id     TEXT NOT NULL REFERENCES devices(device_id),
        jkt           TEXT NOT NULL,
        expires_at_ms INTEGER NOT NULL,
        created_at_ms INTEGER NOT NULL
    );
    CREATE INDEX access_tokens_by_device ON access_tokens(device_id);
    CREATE TABLE dpop_jti (
        jkt   TEXT NOT NULL,
        jti   TEXT NOT NULL,
        iat_s INTEGER NOT NULL,
        PRIMARY KEY (jkt, jti)
    ) WITHOUT ROWID;
    CREATE INDEX dpop_jti_by_iat ON dpop_jti(iat_s);
    CREATE TABLE idempotency (
        scope         TEXT NOT NULL,
        key           TEXT NOT NULL,
        request_hash  BLOB NOT NULL,
        status        INTEGER NOT NULL,
        body          TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL,
        PRIMARY KEY (scope, key)
    ) WITHOUT ROWID;
    CREATE INDEX idempotency_by_age ON idempotency(created_at_ms);
    CREATE TABLE audit_log (
        id        INTEGER PRIMARY KEY AUTOINCREMENT,
        at_ms     INTEGER NOT NULL,
        actor     TEXT NOT NULL,
        device_id TEXT,
        action    TEXT NOT NULL,
        outcome   TEXT NOT NULL,
        ip        TEXT
    );
    -- Append-only, enforced by the database itself, not just by convention.
    --@sqlite
    CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
    CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
    --@end
    --@postgres
    CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql
        AS $$ BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$;
    CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
    CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
    --@end
    CREATE TABLE reports (
        id             TEXT PRIMARY KEY,
        device_id      TEXT NOT NULL REFERENCES devices(device_id),
        user_id        TEXT NOT NULL REFERENCES users(user_id),
        kind           TEXT NOT NULL,
        text           TEXT NOT NULL,
        client_time_ms INTEGER NOT NULL,
        received_at_ms INTEGER NOT NULL,
        signature      BLOB NOT NULL
    );
    CREATE INDEX reports_by_user ON reports(user_id, received_at_ms);
    -- SQLite's implicit row id orders rows received in the same millisecond; PostgreSQL
    -- has none, so the tables that order by it get it as a column.
    --@postgres
    ALTER TABLE reports ADD COLUMN rowid BIGINT GENERATED ALWAYS AS IDENTITY;
    --@end
    "#,
    // 2: QR-key login requests, browser sessions, meetings and their sign-ins.
    r#"
    CREATE TABLE login_requests (
        rid              TEXT PRIMARY KEY,
        -- Only the SHA-256 of the browser's secret: a copy of this table redeems nothing.
        secret_hash      BLOB NOT NULL,
        system           TEXT NOT NULL,
        browser          TEXT NOT NULL,
        os               TEXT NOT NULL,
        ip               TEXT NOT NULL,
        place            TEXT NOT NULL,
        state            TEXT NOT NULL CHECK (state IN
                            ('pending', 'scanned', 'approved', 'denied', 'cancelled', 'redeemed')),
        started_at_ms    INTEGER NOT NULL,
        expires_at_ms    INTEGER NOT NULL,
        fnonce           BLOB NOT NULL,
        frame_issued_ms  INTEGER NOT NULL,
        frame_expires_ms INTEGER NOT NULL,
        prev_fnonce      BLOB,
        prev_expires_ms  INTEGER,
        device_id        TEXT REFERENCES devices(device_id),
        user_id          TEXT REFERENCES users(user_id),
        number           TEXT,
        context_json     TEXT,
        context_hash     BLOB,
        wrong_answers    INTEGER NOT NULL DEFAULT 0,
        scanned_at_ms    INTEGER,
        decided_at_ms    INTEGER,
        redeemed_at_ms   INTEGER,
        signature        BLOB
    );
    CREATE INDEX login_requests_by_user ON login_requests(user_id, started_at_ms);
    CREATE INDEX login_requests_by_age ON login_requests(started_at_ms);
    CREATE TABLE web_sessions (
        session_hash  BLOB PRIMARY KEY,
        user_id       TEXT NOT NULL REFERENCES users(user_id),
        system        TEXT NOT NULL,
        rid           TEXT NOT NULL REFERENCES login_requests(rid),
        created_at_ms INTEGER NOT NULL,
        expires_at_ms INTEGER NOT NULL
    );
    CREATE TABLE meetings (
        mid                TEXT PRIMARY KEY,
        meeting_key        BLOB NOT NULL,
        display_token_hash BLOB NOT NULL,
        title              TEXT NOT NULL,
        room               TEXT NOT NULL,
        organizer          TEXT NOT NULL,
        starts_at_ms       INTEGER NOT NULL,
        ends_at_ms         INTEGER NOT NULL,
        created_at_ms      INTEGER NOT NULL
    );
    CREATE TABLE meeting_invitees (
        mid     TEXT NOT NULL REFERENCES meetings(mid),
        user_id TEXT NOT NULL,
        PRIMARY KEY (mid, user_id)
    ) WITHOUT ROWID;
    CREATE TABLE meeting_sign_ins (
        id             TEXT NOT NULL UNIQUE,
        mid            TEXT NOT NULL REFERENCES meetings(mid),
        user_id        TEXT NOT NULL REFERENCES users(user_id),
        device_id      TEXT NOT NULL REFERENCES devices(device_id),
        slot           INTEGER NOT NULL,
        time_ms        INTEGER NOT NULL,
        received_at_ms INTEGER NOT NULL,
        late           INTEGER NOT NULL,
        signature      BLOB NOT NULL,
        -- One sign-in per person per meeting, enforced by the database.
        PRIMARY KEY (mid, user_id)
    );
    --@postgres
    ALTER TABLE login_requests ADD COLUMN rowid BIGINT GENERATED ALWAYS AS IDENTITY;
    ALTER TABLE meeting_sign_ins ADD COLUMN rowid BIGINT GENERATED ALWAYS AS IDENTITY;
    --@end
    "#,
    // 3: the certificate wallet (owner: wallet). Keys live here because a reference
    // server has no HSM; user ids are not foreign keys, since a certificate may be
    // issued before its holder has bound a phone.
    r#"
    CREATE TABLE wallet_keys (
        name          TEXT PRIMARY KEY,
        pkcs8         BLOB NOT NULL,
        certificate   BLOB,
        created_at_ms INTEGER NOT NULL
    );
    CREATE TABLE wallet_issuers (
        issuer        TEXT PRIMARY KEY,
        name          TEXT NOT NULL,
        kid           TEXT NOT NULL UNIQUE,
        public_key    BLOB NOT NULL,
        pkcs8         BLOB NOT NULL,
        types         TEXT NOT NULL,
        not_before_ms INTEGER NOT NULL,
        not_after_ms  INTEGER NOT NULL
    );
    CREATE TABLE wallet_certificates (
        id            TEXT PRIMARY KEY,
        status_index  INTEGER NOT NULL UNIQUE,
        user_id       TEXT NOT NULL,
        issuer        TEXT NOT NULL REFERENCES wallet_issuers(issuer),
        cert_type     TEXT NOT NULL,
        qr            TEXT NOT NULL,
        issued_at_ms  INTEGER NOT NULL,
        revoked_at_ms INTEGER
    );
    CREATE INDEX wallet_certificates_user ON wallet_certificates (user_id, issued_at_ms);
    CREATE TABLE wallet_pickup_codes (
        code_hash      BLOB PRIMARY KEY,
        certificate_id TEXT NOT NULL REFERENCES wallet_certificates(id),
        user_id        TEXT NOT NULL,
        expires_at_ms  INTEGER NOT NULL,
        used_at_ms     INTEGER,
        revoked_at_ms  INTEGER,
        created_at_ms  INTEGER NOT NULL
    );
    CREATE TABLE wallet_contracts (
        id            TEXT PRIMARY KEY,
        user_id       TEXT NOT NULL,
        body          TEXT NOT NULL,
        voided_at_ms  INTEGER,
        void_reason   TEXT,
        created_at_ms INTEGER NOT NULL
    );
    CREATE INDEX wallet_contracts_user ON wallet_contracts (user_id, created_at_ms);
    "#,
    // 4: attendance — offices, their beacons (static ids, EID identity keys), punches.
    r#"
    CREATE TABLE attendance_offices (
        office_id     TEXT PRIMARY KEY,
        -- The office's rules as the admin sent them (protocol::attendance::NewOffice).
        rules         TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL
    );
    CREATE TABLE attendance_beacons (
        id                INTEGER PRIMARY KEY,
        office_id         TEXT NOT NULL REFERENCES attendance_offices(office_id),
        -- Static beacons: the advert's id. EID beacons: key, exponent, epoch instead.
        beacon_id         TEXT,
        identity_key      BLOB,
        rotation_exponent INTEGER,
        epoch_ms          INTEGER,
        CHECK ((beacon_id IS NULL) <> (identity_key IS NULL)),
        UNIQUE (office_id, beacon_id),
        UNIQUE (office_id, identity_key)
    );
    CREATE TABLE attendance_punches (
        id             TEXT PRIMARY KEY,
        punch_id       TEXT NOT NULL,
        user_id        TEXT NOT NULL REFERENCES users(user_id),
        device_id      TEXT NOT NULL REFERENCES devices(device_id),
        office_id      TEXT NOT NULL REFERENCES attendance_offices(office_id),
        kind           TEXT NOT NULL CHECK (kind IN ('in', 'out')),
        time_ms        INTEGER NOT NULL,
        workday        INTEGER NOT NULL,
        received_at_ms INTEGER NOT NULL,
        manual         INTEGER NOT NULL,
        manual_reason  TEXT,
        late           INTEGER NOT NULL,
        evidence       TEXT NOT NULL,
        -- A signature is accepted once: a copy sent again is a replay.
        signature      BLOB NOT NULL UNIQUE,
        UNIQUE (device_id, punch_id)
    );
    CREATE INDEX attendance_punches_by_user_day ON attendance_punches(user_id, workday, time_ms);
    "#,
    // Mobile approval (owner: approval) — people and their levels, proxies, the
    // working-day calendar, items with their routing state, co-sign rounds, history,
    // every verdict, private drafts and recorded reminders.
    r#"
    CREATE TABLE approval_people (
        user_id      TEXT PRIMARY KEY,
        display_name TEXT NOT NULL,
        title        TEXT NOT NULL,
        agency       TEXT NOT NULL,
        -- 分層負責: 1 is the head of the agency; larger is lower.
        level        INTEGER NOT NULL CHECK (level BETWEEN 1 AND 9)
    );
    CREATE TABLE approval_proxies (
        id            INTEGER PRIMARY KEY,
        user_id       TEXT NOT NULL REFERENCES approval_people(user_id),
        proxy_id      TEXT NOT NULL REFERENCES approval_people(user_id),
        from_ms       INTEGER NOT NULL,
        until_ms      INTEGER NOT NULL,
        created_at_ms INTEGER NOT NULL,
        CHECK (from_ms < until_ms AND user_id <> proxy_id)
    );
    CREATE INDEX approval_proxies_by_user ON approval_proxies(user_id, from_ms);
    CREATE TABLE approval_calendar (
        day  INTEGER PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('holiday', 'workday')),
        name TEXT NOT NULL
    );
    CREATE TABLE approval_items (
        item_id          TEXT PRIMARY KEY,
        kind             TEXT NOT NULL CHECK (kind IN ('document', 'form', 'leave')),
        subject          TEXT NOT NULL,
        body             BLOB NOT NULL,
        body_type        TEXT NOT NULL,
        body_sha256      BLOB NOT NULL,
        classified       INTEGER NOT NULL,
        urgency          TEXT NOT NULL,
        agency           TEXT NOT NULL,
        decision_level   INTEGER NOT NULL,
        -- JSON: the chain's user ids, drafter first, decider last.
        chain            TEXT NOT NULL,
        -- JSON: leave details or form fields, when the kind has them.
        details          TEXT,
        state            TEXT NOT NULL CHECK (state IN ('routing', 'cosigning', 'decided')),
        step             INTEGER NOT NULL,
        -- The chain member holding it while routing; who a co-sign round returns to.
        holder           TEXT NOT NULL,
        cosign_mode      TEXT,
        -- The last send that may still be recalled: by whom, from which step.
        sent_by          TEXT,
        sent_step        INTEGER,
        opened_at_ms     INTEGER,
        version          INTEGER NOT NULL,
        -- Global change sequence, the phones' sync cursor.
        seq              INTEGER NOT NULL,
        received_at_ms   INTEGER NOT NULL,
        due_at_ms        INTEGER NOT NULL,
        decided_at_ms    INTEGER
    );
    CREATE INDEX approval_items_by_holder ON approval_items(holder, due_at_ms);
    CREATE UNIQUE INDEX approval_items_by_seq ON approval_items(seq);
    CREATE TABLE approval_attachments (
        item_id      TEXT NOT NULL REFERENCES approval_items(item_id),
        idx          INTEGER NOT NULL,
        name         TEXT NOT NULL,
        content_type TEXT NOT NULL,
        data         BLOB NOT NULL,
        sha256       BLOB NOT NULL,
        PRIMARY KEY (item_id, idx)
    );
    CREATE TABLE approval_cosigners (
        id         INTEGER PRIMARY KEY,
        item_id    TEXT NOT NULL REFERENCES approval_items(item_id),
        round      INTEGER NOT NULL,
        pos        INTEGER NOT NULL,
        user_id    TEXT NOT NULL,
        added_by   TEXT NOT NULL,
        done_at_ms INTEGER,
        UNIQUE (item_id, round, user_id)
    );
    CREATE TABLE approval_events (
        id           INTEGER PRIMARY KEY,
        item_id      TEXT NOT NULL REFERENCES approval_items(item_id),
        version      INTEGER NOT NULL,
        action       TEXT NOT NULL,
        actor        TEXT NOT NULL,
        acting_for   TEXT,
        device_id    TEXT,
        opinion      TEXT NOT NULL,
        -- JSON array: who holds the item after this step.
        to_users     TEXT NOT NULL,
        at_ms        INTEGER NOT NULL,
        signed_at_ms INTEGER,
        signature    BLOB
    );
    CREATE INDEX approval_events_by_item ON approval_events(item_id, version);
    -- Every verdict on a phone's action, accepted or not.
    CREATE TABLE approval_verdicts (
        id        INTEGER PRIMARY KEY,
        item_id   TEXT NOT NULL,
        user_id   TEXT NOT NULL,
        device_id TEXT NOT NULL,
        action    TEXT NOT NULL,
        status    TEXT NOT NULL,
        code      TEXT,
        at_ms     INTEGER NOT NULL,
        signature BLOB NOT NULL
    );
    CREATE INDEX approval_verdicts_by_item ON approval_verdicts(item_id, at_ms);
    -- An accepted signature is accepted once.
    CREATE UNIQUE INDEX approval_verdicts_done ON approval_verdicts(signature) WHERE status = 'done';
    CREATE TABLE approval_drafts (
        item_id     TEXT NOT NULL REFERENCES approval_items(item_id),
        user_id     TEXT NOT NULL,
        opinion     TEXT NOT NULL,
        saved_at_ms INTEGER NOT NULL,
        PRIMARY KEY (item_id, user_id)
    );
    CREATE TABLE approval_reminders (
        id             INTEGER PRIMARY KEY,
        item_id        TEXT NOT NULL REFERENCES approval_items(item_id),
        user_id        TEXT NOT NULL,
        due_at_ms      INTEGER NOT NULL,
        recorded_at_ms INTEGER NOT NULL,
        sent_at_ms     INTEGER
    );
    CREATE INDEX approval_reminders_by_item ON approval_reminders(item_id, recorded_at_ms);
    "#,
    // Security hardening of login and meetings: a meeting's late window; the browser's
    // confirmation of the account it enters; aggregated anonymous refusals; indexes the
    // purge of expired rows walks.
    r#"
    ALTER TABLE meetings ADD COLUMN late_window_ms INTEGER NOT NULL DEFAULT 900000;
    ALTER TABLE login_requests ADD COLUMN confirm_nonce TEXT;
    CREATE TABLE audit_refusals (
        minute_ms INTEGER NOT NULL,
        action    TEXT NOT NULL,
        outcome   TEXT NOT NULL,
        count     INTEGER NOT NULL,
        PRIMARY KEY (minute_ms, action, outcome)
    ) WITHOUT ROWID;
    CREATE INDEX login_requests_by_expiry ON login_requests(expires_at_ms);
    CREATE INDEX login_requests_by_device ON login_requests(device_id);
    CREATE INDEX web_sessions_by_expiry ON web_sessions(expires_at_ms);
    "#,
    // Server keys sealed at rest under the operator's key-encryption key (see
    // `sealing.rs`). SQL holds no KEK, so keys stored before this migration are sealed
    // by the server at its next start, which then writes the `server_sealed` row.
    r#"
    CREATE TABLE server_secrets (
        name          TEXT PRIMARY KEY,
        sealed        BLOB NOT NULL,
        created_at_ms INTEGER NOT NULL
    );
    CREATE TABLE server_sealed (
        id       INTEGER PRIMARY KEY CHECK (id = 1),
        at_ms    INTEGER NOT NULL
    );
    -- A sealed identity key differs on every write, so "the same beacon twice" is
    -- recognised by an HMAC of the key instead.
    ALTER TABLE attendance_beacons ADD COLUMN identity_key_id BLOB;
    CREATE UNIQUE INDEX attendance_beacons_by_key_id ON attendance_beacons(office_id, identity_key_id);
    "#,
    // Credentials of systems calling on their own behalf (kiosks), kiosk failures for
    // the pickup lockout; pickup codes become HMACs under a server secret, so codes
    // stored as bare SHA-256 no longer match, and stored creation replies that carry
    // a code in clear are dropped (a retry of one that old is long over).
    r#"
    CREATE TABLE credentials (
        id            TEXT PRIMARY KEY,
        kind          TEXT NOT NULL,
        name          TEXT NOT NULL,
        -- Only the SHA-256 of a token is kept.
        token_hash    BLOB NOT NULL UNIQUE,
        created_at_ms INTEGER NOT NULL,
        revoked_at_ms INTEGER
    );
    CREATE TABLE kiosk_failures (
        kiosk_id TEXT NOT NULL,
        code_mac BLOB NOT NULL,
        at_ms    INTEGER NOT NULL
    );
    CREATE INDEX kiosk_failures_by_kiosk ON kiosk_failures(kiosk_id);
    CREATE INDEX kiosk_failures_by_code ON kiosk_failures(code_mac);
    CREATE INDEX kiosk_failures_by_time ON kiosk_failures(at_ms);
    DELETE FROM idempotency WHERE body LIKE '{"code":"%';
    "#,
    // Who works at which office (the HR credential manages it): only they are given an
    // Eddystone-EID office's rotating ids.
    r#"
    CREATE TABLE attendance_assignments (
        office_id     TEXT NOT NULL REFERENCES attendance_offices(office_id),
        user_id       TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL,
        PRIMARY KEY (office_id, user_id)
    ) WITHOUT ROWID;
    "#,
    // What a credential is limited to: an issuer's agency (the agency comes from the
    // credential, never from a request body).
    r#"
    ALTER TABLE credentials ADD COLUMN scope TEXT;
    "#,
    // Push: each user's message log (sequence numbers gap-free per user, assigned in
    // the same transaction as the row) and read state shared by the user's devices.
    r#"
    CREATE TABLE push_keys (
        name  TEXT PRIMARY KEY,
        pkcs8 BLOB NOT NULL
    );
    CREATE TABLE push_sequences (
        user_id  TEXT PRIMARY KEY REFERENCES users(user_id),
        last_seq INTEGER NOT NULL
    );
    CREATE TABLE push_messages (
        id        TEXT PRIMARY KEY,
        user_id   TEXT NOT NULL REFERENCES users(user_id),
        seq       INTEGER NOT NULL,
        -- The signed JSON exactly as sent, so sync returns the same bytes as the push.
        signed    TEXT NOT NULL,
        expires_ms INTEGER NOT NULL,
        read_at_ms INTEGER,
        UNIQUE (user_id, seq)
    );
    "#,
    // Key assurance: claimed by the phone, or attested (and by what).
    r#"
    ALTER TABLE devices ADD COLUMN assurance_basis TEXT NOT NULL DEFAULT 'claimed';
    ALTER TABLE devices ADD COLUMN attestation_detail TEXT;
    "#,
    // Web systems registered by id; a login request names one.
    r#"
    CREATE TABLE web_systems (
        id               TEXT PRIMARY KEY,
        name             TEXT NOT NULL,
        -- JSON array of the origins whose pages may start a login for it.
        origins          TEXT NOT NULL,
        registered_at_ms INTEGER NOT NULL
    );
    ALTER TABLE login_requests ADD COLUMN system_id TEXT;
    "#,
    // Push (owner: push): each device's subscription (replaced per device; the auth
    // secret sealed), the outgoing queue of one row per message and subscription
    // (nothing lost if the process stops), and the meetings already reminded.
    r#"
    CREATE TABLE push_subscriptions (
        device_id       TEXT PRIMARY KEY REFERENCES devices(device_id),
        user_id         TEXT NOT NULL REFERENCES users(user_id),
        platform        TEXT NOT NULL,
        endpoint        TEXT NOT NULL,
        p256dh          BLOB NOT NULL,
        auth_sealed     BLOB NOT NULL,
        created_at_ms   INTEGER NOT NULL,
        verified_at_ms  INTEGER NOT NULL,
        -- Deliveries given up on in a row; reset by a delivery or a re-registration.
        failures        INTEGER NOT NULL DEFAULT 0,
        last_failure_ms INTEGER
    );
    CREATE INDEX push_subscriptions_by_user ON push_subscriptions(user_id);
    CREATE TABLE push_outgoing (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        message_id    TEXT NOT NULL REFERENCES push_messages(id),
        device_id     TEXT NOT NULL REFERENCES push_subscriptions(device_id) ON DELETE CASCADE,
        -- 1 once the push service refused the full body as too large.
        tickle        INTEGER NOT NULL DEFAULT 0,
        attempts      INTEGER NOT NULL DEFAULT 0,
        next_at_ms    INTEGER NOT NULL,
        created_at_ms INTEGER NOT NULL,
        UNIQUE (message_id, device_id)
    );
    CREATE INDEX push_outgoing_due ON push_outgoing(next_at_ms);
    CREATE TABLE push_meeting_reminders (
        mid           TEXT PRIMARY KEY REFERENCES meetings(mid),
        sent_at_ms    INTEGER NOT NULL
    );
    "#,
    // Stateless processes: a push delivery is claimed by one sender for a lease, and
    // the rate-limit budgets are shared (used on PostgreSQL; see limits.rs).
    r#"
    ALTER TABLE push_outgoing ADD COLUMN claimed_by TEXT;
    ALTER TABLE push_outgoing ADD COLUMN lease_until_ms INTEGER NOT NULL DEFAULT 0;
    -- GCRA per key: the theoretical arrival time of the key's next request, in µs. A
    -- row whose tat_us has passed is a full budget, the same as no row, and is purged.
    CREATE TABLE rate_limits (
        key    TEXT PRIMARY KEY,
        tat_us INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX rate_limits_by_tat ON rate_limits(tat_us);
    "#,
];

/// The schema version this code produces.
pub fn latest() -> i64 {
    MIGRATIONS.len() as i64
}

/// Which engine a migration is expanded for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// Replaces whole words only, so `INTEGER` never matches inside a longer name.
fn replace_word(sql: &str, word: &str, with: &str) -> String {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = rest.find(word) {
        let before = rest[..at].chars().next_back();
        let after = rest[at + word.len()..].chars().next();
        out.push_str(&rest[..at]);
        if before.is_some_and(is_word) || after.is_some_and(is_word) {
            out.push_str(word);
        } else {
            out.push_str(with);
        }
        rest = &rest[at + word.len()..];
    }
    out.push_str(rest);
    out
}

/// One migration's DDL for `dialect`.
pub fn expand(sql: &str, dialect: Dialect) -> String {
    let mut kept = String::with_capacity(sql.len());
    let mut only: Option<Dialect> = None;
    for line in sql.lines() {
        match line.trim() {
            "--@sqlite" => only = Some(Dialect::Sqlite),
            "--@postgres" => only = Some(Dialect::Postgres),
            "--@end" => only = None,
            _ if only.is_none_or(|d| d == dialect) => {
                kept.push_str(line);
                kept.push('\n');
            }
            _ => {}
        }
    }
    match dialect {
        Dialect::Sqlite => kept,
        Dialect::Postgres => {
            let identity = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY";
            let s = kept.replace("INTEGER PRIMARY KEY AUTOINCREMENT", identity);
            let s = s.replace("INTEGER PRIMARY KEY", identity);
            let s = replace_word(&s, "INTEGER", "BIGINT");
            let s = replace_word(&s, "BLOB", "BYTEA");
            s.replace(") WITHOUT ROWID;", ");")
        }
    }
}

pub fn sqlite_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

/// The version the database is at, on either engine.
pub fn version(conn: &Conn<'_>) -> super::Result<i64> {
    if conn.is_postgres() {
        conn.query_row("SELECT coalesce(max(version), 0) FROM schema_version", [], |r| r.get(0))
    } else {
        conn.query_row("PRAGMA user_version", [], |r| r.get(0))
    }
}

/// Refuses a database written by a newer server. Only reads: the database stays untouched.
pub fn check_version(found: i64, path: &str) -> Result<(), ServerError> {
    if found > latest() {
        return Err(ServerError::SchemaTooNew {
            path: path.into(),
            found,
            known: latest(),
        });
    }
    Ok(())
}

fn pending(current: i64) -> impl Iterator<Item = (i64, &'static str)> {
    MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(current).unwrap_or(0))
        .map(|(index, sql)| (index as i64 + 1, *sql))
}

pub fn apply_sqlite(conn: &mut Connection, path: &str) -> Result<(), ServerError> {
    let db_err = |source: rusqlite::Error| ServerError::Database {
        path: path.into(),
        source: source.into(),
    };
    let current = sqlite_version(conn).map_err(db_err)?;
    check_version(current, path)?;
    for (version, sql) in pending(current) {
        let tx = conn.transaction().map_err(db_err)?;
        tx.execute_batch(&expand(sql, Dialect::Sqlite)).map_err(db_err)?;
        tx.pragma_update(None, "user_version", version)
            .map_err(db_err)?;
        tx.commit().map_err(db_err)?;
        tracing::info!(version, "applied database migration");
    }
    Ok(())
}

/// Applies what is pending inside the caller's transaction (which holds the write lock):
/// all of it commits, or none.
pub fn apply_postgres(conn: &Conn<'_>, path: &str) -> Result<(), ServerError> {
    let db_err = |source: super::Error| ServerError::Database {
        path: path.into(),
        source,
    };
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
        .map_err(db_err)?;
    let current = version(conn).map_err(db_err)?;
    check_version(current, path)?;
    for (version, sql) in pending(current) {
        conn.execute_batch(&expand(sql, Dialect::Postgres)).map_err(db_err)?;
        conn.execute("INSERT INTO schema_version (version) VALUES (?1)", [version])
            .map_err(db_err)?;
        tracing::info!(version, "applied database migration");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Dialect, expand};

    #[test]
    fn postgres_gets_its_own_types_and_blocks() {
        let sql = "CREATE TABLE t (\n id INTEGER PRIMARY KEY,\n n INTEGER NOT NULL,\n b BLOB,\n INTEGERS_x TEXT\n) WITHOUT ROWID;\n--@sqlite\nSQLITE ONLY;\n--@end\n--@postgres\nPG ONLY;\n--@end\n";
        let pg = expand(sql, Dialect::Postgres);
        assert!(pg.contains("id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"), "{pg}");
        assert!(pg.contains("n BIGINT NOT NULL") && pg.contains("b BYTEA") && pg.contains("INTEGERS_x TEXT"), "{pg}");
        assert!(pg.contains("PG ONLY") && !pg.contains("SQLITE ONLY") && !pg.contains("WITHOUT ROWID"), "{pg}");
        let lite = expand(sql, Dialect::Sqlite);
        assert!(lite.contains("SQLITE ONLY") && !lite.contains("PG ONLY") && lite.contains("id INTEGER PRIMARY KEY"), "{lite}");
    }
}

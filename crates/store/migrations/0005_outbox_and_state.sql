-- Rollguard schema 5: the audit outbox, what the register knows of its audit log, and
-- security state shared by every process on the register: read budgets, login throttles,
-- how far each reader of the log has got, and the key epoch.

-- Audit events written by use cases in the same transaction as their change, waiting to be
-- sequenced into the Merkle log. Ids are never reused (AUTOINCREMENT), so the sequencer can
-- tell whether the log already holds an event after a crash between its two steps.
CREATE TABLE audit_outbox (
    id    INTEGER PRIMARY KEY AUTOINCREMENT,
    body  BLOB    NOT NULL
);

-- The log this register sequences into, how far, and the tree head there: a log that is
-- missing, shorter, foreign or different is refused.
CREATE TABLE audit_state (
    id               INTEGER PRIMARY KEY CHECK (id = 0),
    log_id           TEXT    NOT NULL,
    size             INTEGER NOT NULL,
    root             BLOB    NOT NULL,
    frontier         BLOB    NOT NULL,
    checkpoint_size  INTEGER NOT NULL DEFAULT 0,
    checkpoint       TEXT,
    updated_at       INTEGER NOT NULL
);

-- How far each reader of the log (detection) has processed it.
CREATE TABLE log_positions (
    reader      TEXT    PRIMARY KEY,
    position    INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) WITHOUT ROWID;

-- Read budgets: when each principal last read each elector. Distinct electors in a window
-- are the rows newer than its start.
CREATE TABLE read_charges (
    principal   TEXT    NOT NULL,
    elector_id  INTEGER NOT NULL,
    read_at     INTEGER NOT NULL,
    PRIMARY KEY (principal, elector_id)
) WITHOUT ROWID;
CREATE INDEX read_charges_by_time ON read_charges (principal, read_at);
-- How many rows each principal has in read_charges, kept with them, so charging a read
-- costs the same whether a principal has read ten electors or a million.
CREATE TABLE read_counts (
    principal   TEXT    PRIMARY KEY,
    held        INTEGER NOT NULL
) WITHOUT ROWID;

-- Token buckets (per-account login attempts), so a restart or a second server gives no
-- fresh allowance.
CREATE TABLE throttles (
    key         TEXT    PRIMARY KEY,
    tokens      REAL    NOT NULL,
    updated_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX throttles_by_time ON throttles (updated_at);

-- Raised with every change to authorities and keys.
INSERT INTO counters (name, next) VALUES ('key_epoch', 1);

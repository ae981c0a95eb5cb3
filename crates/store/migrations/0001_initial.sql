-- Rollguard schema 1: authorities, wrapped data keys, sealed elector entries and their
-- history, applications. No column holds a personal value in plaintext: personal fields
-- are s_* (sealed, AES-256-GCM) and searchable values are b_* (blind index, keyed HMAC).

CREATE TABLE authorities (
    id          INTEGER PRIMARY KEY,
    code        TEXT    NOT NULL UNIQUE,
    name        TEXT    NOT NULL,
    nation      TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);

-- Data keys, wrapped by a key-encryption key that lives in the keyring, never here.
CREATE TABLE data_keys (
    authority_id INTEGER NOT NULL REFERENCES authorities(id),
    purpose      TEXT    NOT NULL CHECK (purpose IN ('seal', 'index')),
    generation   INTEGER NOT NULL,
    kek_id       TEXT    NOT NULL,
    wrapped      BLOB    NOT NULL,
    created_at   INTEGER NOT NULL,
    retired_at   INTEGER,
    PRIMARY KEY (authority_id, purpose, generation)
) WITHOUT ROWID;

CREATE TABLE counters (
    name TEXT    PRIMARY KEY,
    next INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO counters (name, next) VALUES ('elector', 1), ('application', 1);

-- The current version of every entry.
CREATE TABLE electors (
    id                  INTEGER PRIMARY KEY,
    authority_id        INTEGER NOT NULL REFERENCES authorities(id),
    version             INTEGER NOT NULL,
    valid_from          TEXT    NOT NULL,
    recorded_at         INTEGER NOT NULL,
    deleted             INTEGER NOT NULL DEFAULT 0,
    change              TEXT    NOT NULL,
    franchise           TEXT    NOT NULL,
    flags               INTEGER NOT NULL,
    absent_vote         TEXT,
    absent_vote_expires TEXT,
    key_gen             INTEGER NOT NULL,
    s_number            BLOB    NOT NULL,
    s_name              BLOB    NOT NULL,
    s_previous          BLOB,
    s_address           BLOB    NOT NULL,
    s_dob               BLOB,
    s_overseas          BLOB,
    s_contact           BLOB,
    b_surname           INTEGER,
    b_postcode          INTEGER,
    b_dob               INTEGER,
    b_number            INTEGER NOT NULL,
    b_nino              INTEGER,
    b_identity          INTEGER NOT NULL
);
-- (authority, number) serves both per-authority scans and number search: one B-tree fewer
-- to maintain on every insert.
CREATE INDEX electors_number    ON electors (authority_id, b_number);
CREATE INDEX electors_surname   ON electors (b_surname)  WHERE b_surname IS NOT NULL;
CREATE INDEX electors_postcode  ON electors (b_postcode) WHERE b_postcode IS NOT NULL;
CREATE INDEX electors_dob       ON electors (b_dob)      WHERE b_dob IS NOT NULL;
CREATE UNIQUE INDEX electors_nino ON electors (b_nino) WHERE b_nino IS NOT NULL AND deleted = 0;
CREATE INDEX electors_identity  ON electors (b_identity);

-- Superseded versions, kept sealed under the version they were sealed with.
CREATE TABLE elector_history (
    id                  INTEGER NOT NULL,
    version             INTEGER NOT NULL,
    authority_id        INTEGER NOT NULL,
    valid_from          TEXT    NOT NULL,
    valid_to            TEXT    NOT NULL,
    recorded_at         INTEGER NOT NULL,
    deleted             INTEGER NOT NULL,
    change              TEXT    NOT NULL,
    franchise           TEXT    NOT NULL,
    flags               INTEGER NOT NULL,
    absent_vote         TEXT,
    absent_vote_expires TEXT,
    key_gen             INTEGER NOT NULL,
    s_number            BLOB    NOT NULL,
    s_name              BLOB    NOT NULL,
    s_previous          BLOB,
    s_address           BLOB    NOT NULL,
    s_dob               BLOB,
    s_overseas          BLOB,
    s_contact           BLOB,
    b_surname           INTEGER,
    b_postcode          INTEGER,
    b_dob               INTEGER,
    b_number            INTEGER NOT NULL,
    b_nino              INTEGER,
    b_identity          INTEGER NOT NULL,
    PRIMARY KEY (id, version)
) WITHOUT ROWID;
CREATE INDEX elector_history_period ON elector_history (authority_id, valid_from);

CREATE TABLE applications (
    id            INTEGER PRIMARY KEY,
    authority_id  INTEGER NOT NULL REFERENCES authorities(id),
    status        TEXT    NOT NULL,
    route         TEXT,
    received_on   TEXT    NOT NULL,
    determined_on TEXT,
    outcome       TEXT,
    elector_id    INTEGER,
    key_gen       INTEGER NOT NULL,
    s_application BLOB    NOT NULL,
    b_nino        INTEGER,
    recorded_at   INTEGER NOT NULL
);
CREATE INDEX applications_authority ON applications (authority_id, status);

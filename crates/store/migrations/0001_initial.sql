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
-- Blind indexes of current entries: one narrow table per kind (elector number, surname,
-- postcode, date of birth, NINO, identity = name + birth date + address). Kept apart from
-- `electors` so a bulk import can load them sorted, in multi-row statements, instead of
-- paying six random B-tree inserts per elector. Every current entry, deleted or not, has a
-- number row, so `bi_number` also lists an authority's entries. The b_* columns of
-- `electors` repeat the values, so a changed entry's old index rows can be found and a
-- search can check further criteria on the row itself.
CREATE TABLE bi_number (
    authority_id INTEGER NOT NULL,
    value        INTEGER NOT NULL,
    elector_id   INTEGER NOT NULL,
    PRIMARY KEY (authority_id, value, elector_id)
) WITHOUT ROWID;
CREATE TABLE bi_surname (
    authority_id INTEGER NOT NULL,
    value        INTEGER NOT NULL,
    elector_id   INTEGER NOT NULL,
    PRIMARY KEY (authority_id, value, elector_id)
) WITHOUT ROWID;
CREATE TABLE bi_postcode (
    authority_id INTEGER NOT NULL,
    value        INTEGER NOT NULL,
    elector_id   INTEGER NOT NULL,
    PRIMARY KEY (authority_id, value, elector_id)
) WITHOUT ROWID;
CREATE TABLE bi_dob (
    authority_id INTEGER NOT NULL,
    value        INTEGER NOT NULL,
    elector_id   INTEGER NOT NULL,
    PRIMARY KEY (authority_id, value, elector_id)
) WITHOUT ROWID;
CREATE TABLE bi_nino (
    authority_id INTEGER NOT NULL,
    value        INTEGER NOT NULL,
    elector_id   INTEGER NOT NULL,
    PRIMARY KEY (authority_id, value, elector_id)
) WITHOUT ROWID;
CREATE TABLE bi_identity (
    authority_id INTEGER NOT NULL,
    value        INTEGER NOT NULL,
    elector_id   INTEGER NOT NULL,
    PRIMARY KEY (authority_id, value, elector_id)
) WITHOUT ROWID;

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

-- Rollguard schema 10: a stolen file tells nothing by inference.
-- * Everything that describes a person (fields, opt-out, anonymity, franchise, absent vote,
--   what a version changed, the NINO's index value) is one sealed value per version, padded to
--   one of a few sizes.
-- * Elector ids are a keyed permutation of a sequence, so they carry no register order.
-- * Surname, postcode and birth-date indexes keep bucketed values (each shared by several
--   distinct values, widths in index_plans); their rows and NINO's hold a keyed permutation of
--   the id, so no two index tables of one elector join without the key.
-- The earlier layout's tables are kept as legacy_* until `rollguard register upgrade` has
-- moved every row (readable throughout), then emptied.
ALTER TABLE electors RENAME TO legacy_electors;
ALTER TABLE elector_history RENAME TO legacy_elector_history;
ALTER TABLE bi_number RENAME TO legacy_bi_number;
ALTER TABLE bi_surname RENAME TO legacy_bi_surname;
ALTER TABLE bi_postcode RENAME TO legacy_bi_postcode;
ALTER TABLE bi_dob RENAME TO legacy_bi_dob;
ALTER TABLE bi_nino RENAME TO legacy_bi_nino;
ALTER TABLE bi_identity RENAME TO legacy_bi_identity;

-- valid_from and valid_to are days since 1970-01-01.
CREATE TABLE electors (
    id           INTEGER PRIMARY KEY,
    authority_id INTEGER NOT NULL REFERENCES authorities(id),
    version      INTEGER NOT NULL,
    valid_from   INTEGER NOT NULL,
    recorded_at  INTEGER NOT NULL,
    deleted      INTEGER NOT NULL,
    key_gen      INTEGER NOT NULL,
    sealed       BLOB    NOT NULL
);
CREATE TABLE elector_history (
    id           INTEGER NOT NULL,
    version      INTEGER NOT NULL,
    authority_id INTEGER NOT NULL,
    valid_from   INTEGER NOT NULL,
    valid_to     INTEGER NOT NULL,
    recorded_at  INTEGER NOT NULL,
    deleted      INTEGER NOT NULL,
    key_gen      INTEGER NOT NULL,
    sealed       BLOB    NOT NULL,
    PRIMARY KEY (id, version)
) WITHOUT ROWID;
CREATE INDEX elector_history_days ON elector_history (authority_id, valid_from);

-- Number and identity: full-width values, the elector id. Every current entry has a number
-- entry (so ix_number lists an authority's entries); deleted entries keep no other.
CREATE TABLE ix_number (
    authority_id INTEGER NOT NULL, value INTEGER NOT NULL, ref INTEGER NOT NULL,
    PRIMARY KEY (authority_id, value, ref)) WITHOUT ROWID;
CREATE TABLE ix_identity (
    authority_id INTEGER NOT NULL, value INTEGER NOT NULL, ref INTEGER NOT NULL,
    PRIMARY KEY (authority_id, value, ref)) WITHOUT ROWID;
-- NINO: full-width values, a permuted reference. Bucketed: (1 << bits) | bucket, so the width
-- is part of the value and a re-size can hold both widths at once.
CREATE TABLE ix_nino (
    authority_id INTEGER NOT NULL, value INTEGER NOT NULL, ref INTEGER NOT NULL,
    PRIMARY KEY (authority_id, value, ref)) WITHOUT ROWID;
CREATE TABLE ix_surname (
    authority_id INTEGER NOT NULL, value INTEGER NOT NULL, ref INTEGER NOT NULL,
    PRIMARY KEY (authority_id, value, ref)) WITHOUT ROWID;
CREATE TABLE ix_postcode (
    authority_id INTEGER NOT NULL, value INTEGER NOT NULL, ref INTEGER NOT NULL,
    PRIMARY KEY (authority_id, value, ref)) WITHOUT ROWID;
CREATE TABLE ix_dob (
    authority_id INTEGER NOT NULL, value INTEGER NOT NULL, ref INTEGER NOT NULL,
    PRIMARY KEY (authority_id, value, ref)) WITHOUT ROWID;

CREATE TABLE index_plans (
    authority_id  INTEGER NOT NULL,
    kind          TEXT    NOT NULL,
    bits          INTEGER NOT NULL,
    target_bits   INTEGER,
    resize_cursor INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (authority_id, kind)
) WITHOUT ROWID;

-- Sequence numbers below legacy_below were ids of the earlier layout; references to them
-- (read and area charges, applications) are rewritten once the upgrade has moved every row.
CREATE TABLE layout_upgrade (
    id           INTEGER PRIMARY KEY CHECK (id = 0),
    legacy_below INTEGER NOT NULL
);
INSERT INTO layout_upgrade (id, legacy_below) SELECT 0, next FROM counters WHERE name = 'elector';

-- Rollguard schema 4: detection's automatic responses, and the sealed registry of canary
-- electors and supply watermarks.

-- Each automatic response (suspend a principal, revoke its credentials, freeze exports)
-- and its reversal by an administrator. Active freezes are those not reversed.
CREATE TABLE detection_responses (
    id           INTEGER PRIMARY KEY,
    action       TEXT    NOT NULL,
    subject      TEXT,
    rule         TEXT    NOT NULL,
    alert_seq    INTEGER,
    created_at   INTEGER NOT NULL,
    reversed_at  INTEGER,
    reversed_by  TEXT
);

-- Named blobs sealed under a system key from the keyring: which electors are canaries,
-- and which watermark entries went to which recipient. The table says nothing without
-- the keyring: not even how many canaries there are, beyond the blob's size.
CREATE TABLE sealed_registry (
    name        TEXT    PRIMARY KEY,
    sealed      BLOB    NOT NULL,
    updated_at  INTEGER NOT NULL
);

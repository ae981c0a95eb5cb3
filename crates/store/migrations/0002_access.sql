-- Rollguard schema 2: principals, their role grants and credentials, sessions and API
-- tokens. No secret is stored in a usable form: passwords are Argon2id hashes, TOTP secrets
-- are sealed under a system key wrapped by the keyring, and every bearer secret (session,
-- API token, login challenge, enrolment secret, recovery code) is stored as its SHA-256.

-- Keys for Rollguard itself rather than for one authority (the TOTP seal key), wrapped by
-- the keyring like authorities' data keys.
CREATE TABLE system_keys (
    purpose     TEXT    PRIMARY KEY,
    kek_id      TEXT    NOT NULL,
    wrapped     BLOB    NOT NULL,
    created_at  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE principals (
    id                  INTEGER PRIMARY KEY,
    name                TEXT    NOT NULL UNIQUE,
    kind                TEXT    NOT NULL CHECK (kind IN ('human', 'service')),
    password_hash       TEXT,
    -- Sealed TOTP secret, bound to the principal id.
    totp_sealed         BLOB,
    -- The last TOTP time step accepted: a code for this step or an earlier one is a replay.
    totp_last_step      INTEGER NOT NULL DEFAULT 0,
    enrolment_hash      BLOB,
    enrolment_expires   INTEGER,
    suspended           INTEGER NOT NULL DEFAULT 0,
    created_at          INTEGER NOT NULL
);

-- Role grants, each scoped to one authority code or to every authority ('*').
CREATE TABLE grants (
    principal_id  INTEGER NOT NULL REFERENCES principals(id),
    role          TEXT    NOT NULL,
    authority     TEXT    NOT NULL,
    granted_by    TEXT    NOT NULL,
    granted_at    INTEGER NOT NULL,
    PRIMARY KEY (principal_id, role, authority)
) WITHOUT ROWID;

CREATE TABLE recovery_codes (
    principal_id  INTEGER NOT NULL REFERENCES principals(id),
    code_hash     BLOB    NOT NULL,
    used_at       INTEGER,
    PRIMARY KEY (principal_id, code_hash)
) WITHOUT ROWID;

-- Short-lived, single-use tokens between the password step and the second factor.
CREATE TABLE login_challenges (
    token_hash    BLOB    PRIMARY KEY,
    principal_id  INTEGER NOT NULL REFERENCES principals(id),
    purpose       TEXT    NOT NULL CHECK (purpose IN ('mfa', 'enrol')),
    -- A TOTP secret offered during enrolment, sealed, until a code proves it was saved.
    pending_totp  BLOB,
    expires_at    INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE sessions (
    token_hash        BLOB    PRIMARY KEY,
    principal_id      INTEGER NOT NULL REFERENCES principals(id),
    created_at        INTEGER NOT NULL,
    last_seen         INTEGER NOT NULL,
    absolute_expires  INTEGER NOT NULL,
    revoked_at        INTEGER
) WITHOUT ROWID;
CREATE INDEX sessions_by_principal ON sessions (principal_id);

CREATE TABLE api_tokens (
    id            INTEGER PRIMARY KEY,
    token_hash    BLOB    NOT NULL UNIQUE,
    principal_id  INTEGER NOT NULL REFERENCES principals(id),
    label         TEXT    NOT NULL,
    -- Comma-separated permission codes and authority codes ('*' for all) the token may use,
    -- within its principal's grants.
    permissions   TEXT    NOT NULL,
    authorities   TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    revoked_at    INTEGER
);
CREATE INDEX api_tokens_by_principal ON api_tokens (principal_id);

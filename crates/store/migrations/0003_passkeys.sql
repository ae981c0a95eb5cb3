-- Rollguard schema 3: WebAuthn passkeys as a second factor.

-- A passkey is public: the credential id, its public key and its signature counter, as
-- webauthn-rs serialises them. Nothing here lets anyone sign in.
CREATE TABLE passkeys (
    id             INTEGER PRIMARY KEY,
    principal_id   INTEGER NOT NULL REFERENCES principals(id),
    credential_id  BLOB    NOT NULL UNIQUE,
    label          TEXT    NOT NULL,
    passkey        TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    last_used      INTEGER
);
CREATE INDEX passkeys_by_principal ON passkeys (principal_id);

-- Login challenges gain the WebAuthn ceremonies and their state. The table holds only
-- short-lived rows, so it is recreated rather than altered.
DROP TABLE login_challenges;
CREATE TABLE login_challenges (
    token_hash    BLOB    PRIMARY KEY,
    principal_id  INTEGER NOT NULL REFERENCES principals(id),
    purpose       TEXT    NOT NULL CHECK (purpose IN ('mfa', 'enrol', 'passkey-register', 'passkey-login')),
    pending_totp  BLOB,
    -- The WebAuthn ceremony state (challenge and allowed credentials) between its two steps.
    ceremony      TEXT,
    expires_at    INTEGER NOT NULL
) WITHOUT ROWID;

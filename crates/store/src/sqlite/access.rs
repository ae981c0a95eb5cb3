//! Principals and credentials on a SQLite transaction.

use super::{db_err, Tx};
use crate::access::*;
use crate::{Result, StoreError};
use rusqlite::{params, OptionalExtension, Row};

const PRINCIPAL_COLUMNS: &str = "id, name, kind, password_hash, totp_sealed, totp_last_step, \
     enrolment_hash, enrolment_expires, suspended, created_at";

fn hash_col(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<SecretHash>> {
    let v: Option<Vec<u8>> = row.get(idx)?;
    Ok(v.and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok()).map(SecretHash))
}

fn principal_from_row(row: &Row<'_>) -> rusqlite::Result<PrincipalRecord> {
    let kind: String = row.get(2)?;
    let enrolment = match (hash_col(row, 6)?, row.get::<_, Option<i64>>(7)?) {
        (Some(h), Some(exp)) => Some((h, exp)),
        _ => None,
    };
    Ok(PrincipalRecord {
        id: row.get::<_, u64>(0)?,
        name: row.get(1)?,
        kind: PrincipalKind::from_code(&kind).unwrap_or(PrincipalKind::Service),
        password_hash: row.get(3)?,
        totp_sealed: row.get(4)?,
        totp_last_step: row.get::<_, u64>(5)?,
        enrolment,
        suspended: row.get::<_, i64>(8)? != 0,
        created_at: row.get(9)?,
        grants: Vec::new(),
    })
}

fn token_from_row(row: &Row<'_>) -> rusqlite::Result<TokenRecord> {
    Ok(TokenRecord {
        id: row.get::<_, u64>(0)?,
        principal_id: row.get::<_, u64>(1)?,
        label: row.get(2)?,
        permissions: row.get(3)?,
        authorities: row.get(4)?,
        created_at: row.get(5)?,
        expires_at: row.get(6)?,
        revoked: row.get::<_, Option<i64>>(7)?.is_some(),
    })
}

fn challenge_from_row(r: &Row<'_>) -> rusqlite::Result<ChallengeRecord> {
    let purpose: String = r.get(1)?;
    let purpose = ChallengePurpose::from_code(&purpose).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            1,
            rusqlite::types::Type::Text,
            format!("unknown challenge purpose {purpose}").into(),
        )
    })?;
    Ok(ChallengeRecord {
        principal_id: r.get::<_, u64>(0)?,
        purpose,
        pending_totp: r.get(2)?,
        ceremony: r.get(3)?,
        expires_at: r.get(4)?,
    })
}

const TOKEN_COLUMNS: &str =
    "id, principal_id, label, permissions, authorities, created_at, expires_at, revoked_at";

impl Tx<'_> {
    fn with_grants(&self, mut p: PrincipalRecord) -> Result<PrincipalRecord> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT role, authority FROM grants WHERE principal_id = ?1 ORDER BY role, authority",
            )
            .map_err(db_err)?;
        p.grants = stmt
            .query_map([p.id], |r| Ok(GrantRecord { role: r.get(0)?, authority: r.get(1)? }))
            .map_err(db_err)?
            .collect::<rusqlite::Result<_>>()
            .map_err(db_err)?;
        Ok(p)
    }

    fn one_principal(&self, filter: &str, arg: &dyn rusqlite::ToSql) -> Result<Option<PrincipalRecord>> {
        let p = self
            .conn
            .prepare_cached(&format!("SELECT {PRINCIPAL_COLUMNS} FROM principals WHERE {filter}"))
            .map_err(db_err)?
            .query_row([arg], principal_from_row)
            .optional()
            .map_err(db_err)?;
        p.map(|p| self.with_grants(p)).transpose()
    }

    fn expect_changed(&self, n: usize, id: u64) -> Result<()> {
        if n == 0 {
            return Err(StoreError::UnknownPrincipal(id.to_string()));
        }
        Ok(())
    }
}

impl AccessRead for Tx<'_> {
    fn system_key(&self, purpose: &str) -> Result<Option<SystemKeyRecord>> {
        self.conn
            .query_row(
                "SELECT purpose, kek_id, wrapped FROM system_keys WHERE purpose = ?1",
                [purpose],
                |r| Ok(SystemKeyRecord { purpose: r.get(0)?, kek_id: r.get(1)?, wrapped: r.get(2)? }),
            )
            .optional()
            .map_err(db_err)
    }

    fn system_keys(&self) -> Result<Vec<SystemKeyRecord>> {
        let mut stmt =
            self.conn.prepare("SELECT purpose, kek_id, wrapped FROM system_keys").map_err(db_err)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(SystemKeyRecord { purpose: r.get(0)?, kek_id: r.get(1)?, wrapped: r.get(2)? })
            })
            .map_err(db_err)?
            .collect::<rusqlite::Result<_>>()
            .map_err(db_err)?;
        Ok(rows)
    }

    fn principal(&self, id: u64) -> Result<Option<PrincipalRecord>> {
        let Some(id) = super::key(id) else { return Ok(None) };
        self.one_principal("id = ?1", &id)
    }

    fn principal_by_name(&self, name: &str) -> Result<Option<PrincipalRecord>> {
        self.one_principal("name = ?1", &name)
    }

    fn principals(&self) -> Result<Vec<PrincipalRecord>> {
        let list: Vec<PrincipalRecord> = self
            .conn
            .prepare(&format!("SELECT {PRINCIPAL_COLUMNS} FROM principals ORDER BY id"))
            .map_err(db_err)?
            .query_map([], principal_from_row)
            .map_err(db_err)?
            .collect::<rusqlite::Result<_>>()
            .map_err(db_err)?;
        list.into_iter().map(|p| self.with_grants(p)).collect()
    }

    fn unused_recovery_codes(&self, id: u64) -> Result<u64> {
        self.conn
            .query_row(
                "SELECT count(*) FROM recovery_codes WHERE principal_id = ?1 AND used_at IS NULL",
                [id],
                |r| r.get(0),
            )
            .map_err(db_err)
    }

    fn session(&self, hash: &SecretHash) -> Result<Option<SessionRecord>> {
        self.conn
            .prepare_cached(
                "SELECT principal_id, created_at, last_seen, absolute_expires, revoked_at FROM sessions \
                 WHERE token_hash = ?1",
            )
            .map_err(db_err)?
            .query_row([hash.0.as_slice()], |r| {
                Ok(SessionRecord {
                    principal_id: r.get::<_, u64>(0)?,
                    created_at: r.get(1)?,
                    last_seen: r.get(2)?,
                    absolute_expires: r.get(3)?,
                    revoked: r.get::<_, Option<i64>>(4)?.is_some(),
                })
            })
            .optional()
            .map_err(db_err)
    }

    fn passkeys_of(&self, principal: u64) -> Result<Vec<PasskeyRecord>> {
        let rows = self
            .conn
            .prepare_cached(
                "SELECT id, principal_id, credential_id, label, passkey, created_at, last_used FROM passkeys \
                 WHERE principal_id = ?1 ORDER BY id",
            )
            .map_err(db_err)?
            .query_map([principal], |r| {
                Ok(PasskeyRecord {
                    id: r.get::<_, u64>(0)?,
                    principal_id: r.get::<_, u64>(1)?,
                    credential_id: r.get(2)?,
                    label: r.get(3)?,
                    passkey: r.get(4)?,
                    created_at: r.get(5)?,
                    last_used: r.get(6)?,
                })
            })
            .map_err(db_err)?
            .collect::<rusqlite::Result<_>>()
            .map_err(db_err)?;
        Ok(rows)
    }

    fn token(&self, hash: &SecretHash) -> Result<Option<TokenRecord>> {
        self.conn
            .prepare_cached(&format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = ?1"))
            .map_err(db_err)?
            .query_row([hash.0.as_slice()], token_from_row)
            .optional()
            .map_err(db_err)
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>> {
        let rows = self
            .conn
            .prepare(&format!("SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY id"))
            .map_err(db_err)?
            .query_map([], token_from_row)
            .map_err(db_err)?
            .collect::<rusqlite::Result<_>>()
            .map_err(db_err)?;
        Ok(rows)
    }

    fn challenge(&self, hash: &SecretHash) -> Result<Option<ChallengeRecord>> {
        self.conn
            .prepare_cached(
                "SELECT principal_id, purpose, pending_totp, ceremony, expires_at FROM login_challenges \
                 WHERE token_hash = ?1",
            )
            .and_then(|mut st| st.query_row([hash.0.as_slice()], challenge_from_row).optional())
            .map_err(db_err)
    }

    fn token_by_id(&self, id: u64) -> Result<Option<TokenRecord>> {
        let Some(id) = super::key(id) else { return Ok(None) };
        self.conn
            .prepare_cached(&format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = ?1"))
            .and_then(|mut st| st.query_row([id], token_from_row).optional())
            .map_err(db_err)
    }
}

impl AccessWrite for Tx<'_> {
    fn put_system_key(&mut self, key: &SystemKeyRecord) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO system_keys (purpose, kek_id, wrapped, created_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (purpose) DO UPDATE SET kek_id = excluded.kek_id, wrapped = excluded.wrapped",
                params![key.purpose, key.kek_id, key.wrapped, super::now_secs()],
            )
            .map_err(db_err)?;
        self.bump_key_epoch()
    }

    fn create_principal(&mut self, name: &str, kind: PrincipalKind, now: i64) -> Result<u64> {
        match self.conn.execute(
            "INSERT INTO principals (name, kind, created_at) VALUES (?1, ?2, ?3)",
            params![name, kind.code(), now],
        ) {
            Ok(_) => super::inserted_id(self.conn),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(StoreError::PrincipalExists(name.to_owned()))
            }
            Err(e) => Err(db_err(e)),
        }
    }

    fn set_password(&mut self, id: u64, hash: &str) -> Result<()> {
        let n = self
            .conn
            .execute("UPDATE principals SET password_hash = ?2 WHERE id = ?1", params![id, hash])
            .map_err(db_err)?;
        self.expect_changed(n, id)
    }

    fn set_enrolment(&mut self, id: u64, enrolment: Option<(SecretHash, i64)>) -> Result<()> {
        let n = match enrolment {
            Some((h, exp)) => self
                .conn
                .execute(
                    "UPDATE principals SET enrolment_hash = ?2, enrolment_expires = ?3, totp_sealed = NULL \
                     WHERE id = ?1",
                    params![id, h.0.as_slice(), exp],
                )
                .map_err(db_err)?,
            None => self
                .conn
                .execute(
                    "UPDATE principals SET enrolment_hash = NULL, enrolment_expires = NULL WHERE id = ?1",
                    params![id],
                )
                .map_err(db_err)?,
        };
        if enrolment.is_some() {
            self.conn.execute("DELETE FROM recovery_codes WHERE principal_id = ?1", [id]).map_err(db_err)?;
        }
        self.expect_changed(n, id)
    }

    fn complete_enrolment(&mut self, id: u64, e: &Enrolment<'_>) -> Result<()> {
        let n = self
            .conn
            .execute(
                "UPDATE principals SET password_hash = ?2, totp_sealed = ?3, totp_last_step = ?4, \
                 enrolment_hash = NULL, enrolment_expires = NULL WHERE id = ?1",
                params![id, e.password_hash, e.totp_sealed, e.totp_step],
            )
            .map_err(db_err)?;
        self.expect_changed(n, id)?;
        self.conn.execute("DELETE FROM recovery_codes WHERE principal_id = ?1", [id]).map_err(db_err)?;
        {
            let mut stmt = self
                .conn
                .prepare_cached("INSERT INTO recovery_codes (principal_id, code_hash) VALUES (?1, ?2)")
                .map_err(db_err)?;
            for c in e.recovery_codes {
                stmt.execute(params![id, c.0.as_slice()]).map_err(db_err)?;
            }
        }
        Ok(())
    }

    fn advance_totp_step(&mut self, id: u64, step: u64) -> Result<bool> {
        let n = self
            .conn
            .execute(
                "UPDATE principals SET totp_last_step = ?2 WHERE id = ?1 AND totp_last_step < ?2",
                params![id, step],
            )
            .map_err(db_err)?;
        Ok(n == 1)
    }

    fn set_suspended(&mut self, id: u64, suspended: bool) -> Result<()> {
        let n = self
            .conn
            .execute("UPDATE principals SET suspended = ?2 WHERE id = ?1", params![id, suspended])
            .map_err(db_err)?;
        self.expect_changed(n, id)
    }

    fn add_grant(&mut self, id: u64, grant: &GrantRecord, by: &str, now: i64) -> Result<()> {
        self.conn
            .execute(
                "INSERT OR IGNORE INTO grants (principal_id, role, authority, granted_by, granted_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, grant.role, grant.authority, by, now],
            )
            .map_err(db_err)?;
        Ok(())
    }

    fn remove_grant(&mut self, id: u64, grant: &GrantRecord) -> Result<bool> {
        let n = self
            .conn
            .execute(
                "DELETE FROM grants WHERE principal_id = ?1 AND role = ?2 AND authority = ?3",
                params![id, grant.role, grant.authority],
            )
            .map_err(db_err)?;
        Ok(n == 1)
    }

    fn use_recovery_code(&mut self, id: u64, code: &SecretHash, now: i64) -> Result<bool> {
        let n = self
            .conn
            .execute(
                "UPDATE recovery_codes SET used_at = ?3 \
                 WHERE principal_id = ?1 AND code_hash = ?2 AND used_at IS NULL",
                params![id, code.0.as_slice(), now],
            )
            .map_err(db_err)?;
        Ok(n == 1)
    }

    fn insert_challenge(&mut self, hash: &SecretHash, c: &ChallengeRecord) -> Result<()> {
        // Expired challenges are swept as new ones arrive, so the table stays small.
        self.conn
            .execute("DELETE FROM login_challenges WHERE expires_at < ?1", [c.expires_at - 3600])
            .map_err(db_err)?;
        self.conn
            .execute(
                "INSERT INTO login_challenges (token_hash, principal_id, purpose, pending_totp, ceremony, \
                 expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    hash.0.as_slice(),
                    c.principal_id,
                    c.purpose.code(),
                    c.pending_totp,
                    c.ceremony,
                    c.expires_at
                ],
            )
            .map_err(db_err)?;
        Ok(())
    }

    fn take_challenge(&mut self, hash: &SecretHash) -> Result<Option<ChallengeRecord>> {
        self.conn
            .query_row(
                "DELETE FROM login_challenges WHERE token_hash = ?1 \
                 RETURNING principal_id, purpose, pending_totp, ceremony, expires_at",
                [hash.0.as_slice()],
                challenge_from_row,
            )
            .optional()
            .map_err(db_err)
    }

    fn insert_session(&mut self, hash: &SecretHash, s: &SessionRecord) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO sessions (token_hash, principal_id, created_at, last_seen, absolute_expires) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![hash.0.as_slice(), s.principal_id, s.created_at, s.last_seen, s.absolute_expires],
            )
            .map_err(db_err)?;
        Ok(())
    }

    fn touch_session(&mut self, hash: &SecretHash, now: i64) -> Result<()> {
        self.conn
            .prepare_cached("UPDATE sessions SET last_seen = ?2 WHERE token_hash = ?1")
            .map_err(db_err)?
            .execute(params![hash.0.as_slice(), now])
            .map_err(db_err)?;
        Ok(())
    }

    fn revoke_session(&mut self, hash: &SecretHash, now: i64) -> Result<bool> {
        let n = self
            .conn
            .execute(
                "UPDATE sessions SET revoked_at = ?2 WHERE token_hash = ?1 AND revoked_at IS NULL",
                params![hash.0.as_slice(), now],
            )
            .map_err(db_err)?;
        Ok(n == 1)
    }

    fn revoke_sessions_of(&mut self, principal: u64, now: i64) -> Result<u64> {
        let n = self
            .conn
            .execute(
                "UPDATE sessions SET revoked_at = ?2 WHERE principal_id = ?1 AND revoked_at IS NULL",
                params![principal, now],
            )
            .map_err(db_err)?;
        Ok(n as u64)
    }

    fn insert_passkey(&mut self, p: &PasskeyRecord) -> Result<u64> {
        self.conn
            .execute(
                "INSERT INTO passkeys (principal_id, credential_id, label, passkey, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![p.principal_id, p.credential_id, p.label, p.passkey, p.created_at],
            )
            .map_err(db_err)?;
        super::inserted_id(self.conn)
    }

    fn update_passkey(&mut self, id: u64, passkey: &str, now: i64) -> Result<()> {
        self.conn
            .execute(
                "UPDATE passkeys SET passkey = ?2, last_used = ?3 WHERE id = ?1",
                params![id, passkey, now],
            )
            .map_err(db_err)?;
        Ok(())
    }

    fn remove_passkey(&mut self, principal: u64, id: u64) -> Result<bool> {
        let n = self
            .conn
            .execute("DELETE FROM passkeys WHERE id = ?1 AND principal_id = ?2", params![id, principal])
            .map_err(db_err)?;
        Ok(n == 1)
    }

    fn insert_token(&mut self, hash: &SecretHash, t: &TokenRecord) -> Result<u64> {
        self.conn
            .execute(
                "INSERT INTO api_tokens (token_hash, principal_id, label, permissions, authorities, created_at, \
                 expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    hash.0.as_slice(),
                    t.principal_id,
                    t.label,
                    t.permissions,
                    t.authorities,
                    t.created_at,
                    t.expires_at
                ],
            )
            .map_err(db_err)?;
        super::inserted_id(self.conn)
    }

    fn revoke_token(&mut self, id: u64, now: i64) -> Result<bool> {
        let Some(id) = super::key(id) else { return Ok(false) };
        let n = self
            .conn
            .execute(
                "UPDATE api_tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                params![id, now],
            )
            .map_err(db_err)?;
        Ok(n == 1)
    }

    fn revoke_tokens_of(&mut self, principal: u64, now: i64) -> Result<u64> {
        let n = self
            .conn
            .execute(
                "UPDATE api_tokens SET revoked_at = ?2 WHERE principal_id = ?1 AND revoked_at IS NULL",
                params![principal, now],
            )
            .map_err(db_err)?;
        Ok(n as u64)
    }
}

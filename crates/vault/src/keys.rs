//! The process's unwrapped keys, shared by all its connections, and key management.
//!
//! [`Keys`] holds one [`Vault`] (a snapshot of every authority's unwrapped data keys and the
//! system keys) with the key epoch it was loaded at. Every change to authorities or keys
//! raises the epoch in the database, in the same transaction; [`Keys::vault`] compares and
//! reloads, so a key generation or an authority added by another process is used at once.
//!
//! KEK rotation rewraps every data key under a new key-encryption key in one transaction,
//! with the register online. Data-key rotation starts a new seal-key generation; `reseal`
//! then moves rows onto it in small batches, resumably: each batch commits on its own, and
//! a rerun carries on with whatever still uses an old generation.

use crate::{AuthorityKeys, Result, Vault, VaultError};
use rollguard_register::{FranchiseTable, Nation};
use rollguard_sealing::{
    IndexKey, KekId, KeyBytes, Keyring, KeyringError, Permutation, SealKey, WrapContext, WrappedKey,
};
use rollguard_store::{
    AuthorityRecord, DataKeyRecord, KeyPurpose, ReadTx, Register, StoreError, SystemKeyRecord, WriteTx,
    SYSTEM_KEY_AUTHORITY,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock, RwLockReadGuard};

/// The system keys Rollguard itself uses, created on first open.
pub mod purpose {
    /// Seals TOTP secrets.
    pub const TOTP: &str = "totp-seal";
    /// Seals the registry of canaries and supply watermarks.
    pub const REGISTRY: &str = "registry-seal";
    /// The Ed25519 seed that signs audit checkpoints.
    pub const AUDIT_SIGNING: &str = "audit-checkpoint";
    /// Permutes the elector sequence into ids under each authority's cluster (its first 16
    /// bytes are an AES-128 key).
    pub const ELECTOR_IDS: &str = "elector-ids-clustered";
    /// The 46-bit id permutation of registers first opened by the build of 2026-12-02: never
    /// made now; where it exists its scheme is kept (see `IdScheme::Flat`).
    pub const FLAT_ELECTOR_IDS: &str = "elector-ids";
    pub const ALL: [&str; 4] = [TOTP, REGISTRY, AUDIT_SIGNING, ELECTOR_IDS];
}

/// The authority bound into a system key's wrapping. The registry key was first wrapped
/// under `_system`; it keeps that binding so existing registers still open.
pub(crate) fn system_wrap(p: &str) -> WrapContext<'_> {
    let authority = if p == purpose::REGISTRY { "_system" } else { SYSTEM_KEY_AUTHORITY };
    WrapContext { authority, purpose: p, generation: 1 }
}

fn wrap_ctx(k: &DataKeyRecord) -> WrapContext<'_> {
    WrapContext { authority: &k.authority, purpose: k.purpose.code(), generation: k.generation }
}

/// Opens the keyring again (after another process rotated its key-encryption key).
pub type KeyringOpener = Box<dyn Fn() -> std::result::Result<Box<dyn Keyring>, KeyringError> + Send + Sync>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KekRotation {
    pub new_kek: KekId,
    pub removed: Vec<KekId>,
    pub rewrapped: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResealReport {
    pub resealed: u64,
    pub generation: u32,
    /// Older generations retired because no row uses them any more.
    pub retired: usize,
}

pub struct Keys {
    keyring: RwLock<Box<dyn Keyring>>,
    reopen: Option<KeyringOpener>,
    current: RwLock<Arc<Vault>>,
}

impl Keys {
    /// Unwraps every key the register holds, first creating the system keys it lacks. Fails
    /// if the keyring does not hold the key-encryption keys the data keys were wrapped with.
    pub fn open(
        keyring: Box<dyn Keyring>,
        reopen: Option<KeyringOpener>,
        register: &Register,
    ) -> Result<Self> {
        let vault = register.read(|tx| load(keyring.as_ref(), tx))?;
        let keys = Self { keyring: RwLock::new(keyring), reopen, current: RwLock::new(Arc::new(vault)) };
        let missing: Vec<&str> =
            purpose::ALL.iter().copied().filter(|p| !keys.current().system.contains_key(*p)).collect();
        if !missing.is_empty() {
            let mut wrapped = Vec::new();
            for p in &missing {
                let w = keys.keyring().wrap(&KeyBytes::random(), &system_wrap(p))?;
                wrapped.push(SystemKeyRecord { purpose: (*p).to_owned(), kek_id: w.kek.0, wrapped: w.bytes });
            }
            register.write(move |tx| -> Result<()> {
                for k in wrapped {
                    // Another process may have made it meanwhile: keep the first.
                    if tx.system_key(&k.purpose)?.is_none() {
                        tx.put_system_key(&k)?;
                    }
                }
                Ok(())
            })?;
            register.read(|tx| keys.reload(tx))?;
        }
        Ok(keys)
    }

    pub fn keyring(&self) -> RwLockReadGuard<'_, Box<dyn Keyring>> {
        self.keyring.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The keys as last loaded.
    pub fn current(&self) -> Arc<Vault> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The keys as of `tx`: reloaded first if the register's key epoch has moved past them.
    pub fn vault(&self, tx: &dyn ReadTx) -> Result<Arc<Vault>> {
        let have = self.current();
        if tx.key_epoch()? <= have.epoch {
            return Ok(have);
        }
        self.reload(tx)?;
        Ok(self.current())
    }

    fn reload(&self, tx: &dyn ReadTx) -> Result<()> {
        // Bound first: the keyring's read guard must be gone before a reopen takes the write lock.
        let first = load(self.keyring().as_ref(), tx);
        let loaded = match first {
            Err(VaultError::Keyring(KeyringError::UnknownKek(_))) if self.reopen.is_some() => {
                // Another process rotated the key-encryption key: read the keyring again.
                let fresh = (self.reopen.as_ref().expect("checked"))()?;
                *self.keyring.write().unwrap_or_else(|p| p.into_inner()) = fresh;
                load(self.keyring().as_ref(), tx)?
            }
            other => other?,
        };
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        if loaded.epoch >= current.epoch {
            *current = Arc::new(loaded);
        }
        Ok(())
    }

    fn new_data_key(&self, authority: &str, purpose: KeyPurpose, generation: u32) -> Result<DataKeyRecord> {
        let ctx = WrapContext { authority, purpose: purpose.code(), generation };
        let wrapped = self.keyring().wrap(&KeyBytes::random(), &ctx)?;
        Ok(DataKeyRecord {
            authority: authority.to_owned(),
            purpose,
            generation,
            kek_id: wrapped.kek.0,
            wrapped: wrapped.bytes,
            retired: false,
        })
    }

    /// Creates an authority with fresh seal and index keys, wrapped by the keyring, in `tx`.
    /// Returns the normalised code.
    pub fn create_authority(
        &self,
        tx: &mut dyn WriteTx,
        code: &str,
        name: &str,
        nation: Nation,
    ) -> Result<String> {
        let code = code.trim().to_ascii_uppercase();
        if code.is_empty() || code.len() > 12 || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(VaultError::Invalid(
                rollguard_register::ValidationError::new(
                    "authority",
                    rollguard_register::Rule::UnknownCode("authority code (1-12 letters or digits)"),
                )
                .into(),
            ));
        }
        tx.create_authority(&AuthorityRecord { code: code.clone(), name: name.to_owned(), nation })?;
        for purpose in [KeyPurpose::Seal, KeyPurpose::Index] {
            tx.insert_data_key(&self.new_data_key(&code, purpose, 1)?)?;
        }
        Ok(code)
    }

    /// Starts a new seal-key generation for `authority` in `tx`; new writes use it as soon
    /// as it commits. Existing rows move to it with [`Keys::reseal`].
    pub fn rotate_data_key(&self, tx: &mut dyn WriteTx, authority: &str) -> Result<u32> {
        let vault = self.vault(&*tx)?;
        let next = vault.keys(authority)?.seal.keys().max().copied().unwrap_or(0) + 1;
        tx.insert_data_key(&self.new_data_key(authority, KeyPurpose::Seal, next)?)?;
        Ok(next)
    }

    /// Re-seals up to `max_rows` rows (all if `None`) of `authority` that use an older seal
    /// key generation, in batches of `batch`, each its own transaction. Resumable; when no
    /// row is left on an old generation, the old generations are retired.
    pub fn reseal(
        &self,
        register: &Register,
        authority: &str,
        batch: usize,
        max_rows: Option<u64>,
        progress: crate::Progress<'_>,
    ) -> Result<ResealReport> {
        let vault = register.read(|tx| self.vault(tx))?;
        // Legacy rows are not re-sealed: retiring a generation they use would strand them.
        if register.read(|tx| -> Result<bool> { Ok(tx.legacy_pending()?) })? {
            return Err(VaultError::UpgradePending);
        }
        let generation = vault.keys(authority)?.active_seal;
        let mut done = 0u64;
        // Ids only grow, so a cursor keeps each batch from rescanning rows already done.
        let mut after = 0u64;
        loop {
            let want = match max_rows {
                Some(m) if done >= m => break,
                Some(m) => usize::try_from(m - done).map_or(batch, |left| batch.min(left)),
                None => batch,
            };
            let rows = register.read(|tx| -> Result<_> {
                Ok(tx.rows_not_sealed_with(authority, generation, after, want)?)
            })?;
            if rows.is_empty() {
                break;
            }
            let keys = vault.keys(authority)?;
            let mut resealed = Vec::with_capacity(rows.len());
            let mut expected = Vec::with_capacity(rows.len());
            for row in rows {
                if row.valid_to.is_none() {
                    after = after.max(row.id);
                }
                // The padded plaintext moves as it is, under the active key.
                let plain = keys.open_plain(&row)?;
                expected.push(row.key_generation);
                let sealed = keys.seal_padded(row.id, row.version, &plain);
                resealed.push(rollguard_store::ElectorRow { key_generation: generation, sealed, ..row });
            }
            done += register.write(move |tx| -> Result<u64> { Ok(tx.reseal_rows(&resealed, &expected)?) })?;
            progress(done);
        }
        let mut retired = 0;
        let finished = register.read(|tx| -> Result<bool> {
            Ok(tx.rows_not_sealed_with(authority, generation, 0, 1)?.is_empty())
        })?;
        if finished {
            let old: Vec<u32> =
                vault.keys(authority)?.seal.keys().copied().filter(|g| *g != generation).collect();
            retired = old.len();
            let code = authority.to_owned();
            register.write(move |tx| -> Result<()> {
                for g in old {
                    tx.retire_data_key(&code, KeyPurpose::Seal, g)?;
                }
                Ok(())
            })?;
        }
        Ok(ResealReport { resealed: done, generation, retired })
    }

    /// Rotates the key-encryption key: a new KEK in the keyring, every data key and system
    /// key rewrapped under it in one transaction (which also records `event`), then the old
    /// KEKs destroyed. Data keys and rows are untouched, so readers carry on throughout. If
    /// keys change meanwhile (another process), the rewrap is refused and nothing is
    /// destroyed.
    pub fn rotate_kek(&self, register: &Register, event: Vec<u8>) -> Result<KekRotation> {
        let (epoch, data, system) =
            register.read(|tx| -> Result<_> { Ok((tx.key_epoch()?, tx.data_keys()?, tx.system_keys()?)) })?;
        let old: Vec<KekId> = self.keyring().kek_ids();
        let new_kek = self.keyring.write().unwrap_or_else(|p| p.into_inner()).add_kek()?;
        let keyring = self.keyring();
        let mut rewrapped = Vec::new();
        for k in data {
            let ctx = wrap_ctx(&k);
            let key = keyring
                .unwrap(&WrappedKey { kek: KekId(k.kek_id.clone()), bytes: k.wrapped.clone() }, &ctx)?;
            let w = keyring.wrap(&key, &ctx)?;
            rewrapped.push(DataKeyRecord { kek_id: w.kek.0, wrapped: w.bytes, ..k });
        }
        let mut systems = Vec::new();
        for k in system {
            let ctx = system_wrap(&k.purpose);
            let key = keyring
                .unwrap(&WrappedKey { kek: KekId(k.kek_id.clone()), bytes: k.wrapped.clone() }, &ctx)?;
            let w = keyring.wrap(&key, &ctx)?;
            systems.push(SystemKeyRecord { kek_id: w.kek.0, wrapped: w.bytes, ..k });
        }
        drop(keyring);
        let count = rewrapped.len();
        register.write(move |tx| -> Result<()> {
            if tx.key_epoch()? != epoch {
                return Err(StoreError::Busy("keys changed during the rotation; run it again".into()).into());
            }
            tx.rewrap_data_keys(&rewrapped)?;
            for k in &systems {
                tx.put_system_key(k)?;
            }
            tx.append_event(&event)?;
            Ok(())
        })?;
        // Only once every key is committed under the new KEK are the old ones destroyed.
        {
            let mut keyring = self.keyring.write().unwrap_or_else(|p| p.into_inner());
            for id in &old {
                keyring.remove_kek(id)?;
            }
        }
        register.read(|tx| self.reload(tx))?;
        Ok(KekRotation { new_kek, removed: old, rewrapped: count })
    }
}

/// Unwraps every data key and system key visible in `tx`.
fn load(keyring: &dyn Keyring, tx: &dyn ReadTx) -> Result<Vault> {
    let epoch = tx.key_epoch()?;
    let mut seal: HashMap<String, BTreeMap<u32, (SealKey, bool)>> = HashMap::new();
    let mut index: HashMap<String, IndexKey> = HashMap::new();
    for k in tx.data_keys()? {
        let wrapped = WrappedKey { kek: KekId(k.kek_id.clone()), bytes: k.wrapped.clone() };
        let key = keyring.unwrap(&wrapped, &wrap_ctx(&k))?;
        match k.purpose {
            KeyPurpose::Seal => {
                seal.entry(k.authority.clone())
                    .or_default()
                    .insert(k.generation, (SealKey::new(&key), k.retired));
            }
            KeyPurpose::Index => {
                index.insert(k.authority.clone(), IndexKey::new(&key));
            }
        }
    }
    let mut authorities = HashMap::new();
    for a in tx.authorities()? {
        let seals = seal.remove(&a.code).unwrap_or_default();
        let active_seal = seals
            .iter()
            .filter(|(_, (_, retired))| !retired)
            .map(|(g, _)| *g)
            .max()
            .ok_or_else(|| VaultError::Corrupt(format!("authority {} has no active seal key", a.code)))?;
        let index = index
            .remove(&a.code)
            .ok_or_else(|| VaultError::Corrupt(format!("authority {} has no index key", a.code)))?;
        let keys = AuthorityKeys {
            code: a.code.clone(),
            table: FranchiseTable::default_for(a.nation),
            seal: seals.into_iter().map(|(g, (k, _))| (g, k)).collect(),
            active_seal,
            refs: crate::References::new(&index),
            index,
        };
        authorities.insert(a.code, keys);
    }
    let mut system = HashMap::new();
    for k in tx.system_keys()? {
        let wrapped = WrappedKey { kek: KekId(k.kek_id.clone()), bytes: k.wrapped.clone() };
        system.insert(k.purpose.clone(), keyring.unwrap(&wrapped, &system_wrap(&k.purpose))?);
    }
    let key = |k: &KeyBytes| -> [u8; 16] { k.expose()[..16].try_into().expect("16 bytes") };
    let ids = match (system.get(purpose::FLAT_ELECTOR_IDS), system.get(purpose::ELECTOR_IDS)) {
        (Some(flat), _) => Some(crate::IdScheme::Flat(Permutation::new(&key(flat)))),
        (None, Some(k)) => {
            Some(crate::IdScheme::Clustered(Permutation::with_bits(&key(k), crate::SEQUENCE_BITS)))
        }
        (None, None) => None,
    };
    Ok(Vault { epoch, authorities, system, ids })
}

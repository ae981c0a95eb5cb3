//! Key management. KEK rotation rewraps every data key under a new key-encryption key in
//! one transaction, with the register online. Data-key rotation starts a new seal-key
//! generation; `reseal` then moves rows onto it in small batches, resumably: each batch
//! commits on its own, and a rerun carries on with whatever still uses an old generation.

use crate::{AuthorityKeys, Result, Vault, VaultError};
use rollguard_register::FranchiseTable;
use rollguard_sealing::{IndexKey, KekId, KeyBytes, SealKey, WrapContext, WrappedKey};
use rollguard_store::{
    AccessStore, DataKeyRecord, KeyPurpose, RegisterStore, SystemKeyRecord, SYSTEM_KEY_AUTHORITY,
};
use std::collections::{BTreeMap, HashMap};

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

fn wrap_ctx(k: &DataKeyRecord) -> WrapContext<'_> {
    WrapContext { authority: &k.authority, purpose: k.purpose.code(), generation: k.generation }
}

impl<S: RegisterStore> Vault<S> {
    pub(crate) fn new_data_key(
        &mut self,
        authority: &str,
        purpose: KeyPurpose,
        generation: u32,
    ) -> Result<()> {
        let key = KeyBytes::random();
        let ctx = WrapContext { authority, purpose: purpose.code(), generation };
        let wrapped = self.keyring.wrap(&key, &ctx)?;
        self.store.insert_data_key(&DataKeyRecord {
            authority: authority.to_owned(),
            purpose,
            generation,
            kek_id: wrapped.kek.0,
            wrapped: wrapped.bytes,
            retired: false,
        })?;
        Ok(())
    }

    /// Unwraps every data key from the store.
    pub(crate) fn reload_keys(&mut self) -> Result<()> {
        let mut seal: HashMap<String, BTreeMap<u32, (SealKey, bool)>> = HashMap::new();
        let mut index: HashMap<String, IndexKey> = HashMap::new();
        for k in self.store.data_keys()? {
            let wrapped = WrappedKey { kek: KekId(k.kek_id.clone()), bytes: k.wrapped.clone() };
            let key = self.keyring.unwrap(&wrapped, &wrap_ctx(&k))?;
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
        for a in self.store.authorities()? {
            let seals = seal.remove(&a.code).unwrap_or_default();
            let active_seal =
                seals.iter().filter(|(_, (_, retired))| !retired).map(|(g, _)| *g).max().ok_or_else(
                    || VaultError::Corrupt(format!("authority {} has no active seal key", a.code)),
                )?;
            let index = index
                .remove(&a.code)
                .ok_or_else(|| VaultError::Corrupt(format!("authority {} has no index key", a.code)))?;
            let keys = AuthorityKeys {
                code: a.code.clone(),
                table: FranchiseTable::default_for(a.nation),
                seal: seals.into_iter().map(|(g, (k, _))| (g, k)).collect(),
                active_seal,
                index,
            };
            authorities.insert(a.code, keys);
        }
        self.authorities = authorities;
        Ok(())
    }

    /// Starts a new seal-key generation for `authority`; new writes use it at once.
    /// Existing rows move to it with [`Vault::reseal`].
    pub fn rotate_data_key(&mut self, authority: &str) -> Result<u32> {
        let next = self.keys(authority)?.seal.keys().max().copied().unwrap_or(0) + 1;
        self.new_data_key(authority, KeyPurpose::Seal, next)?;
        self.reload_keys()?;
        Ok(next)
    }

    /// Re-seals up to `max_rows` rows (all if `None`) of `authority` that use an older seal key
    /// generation, in batches of `batch`. Resumable; when no row is left on an old generation,
    /// the old generations are retired.
    pub fn reseal(
        &mut self,
        authority: &str,
        batch: usize,
        max_rows: Option<u64>,
        progress: crate::Progress<'_>,
    ) -> Result<ResealReport> {
        let generation = self.keys(authority)?.active_seal;
        let mut done = 0u64;
        // Ids only grow, so a cursor keeps each batch from rescanning rows already done.
        let mut after = 0u64;
        loop {
            let want = match max_rows {
                Some(m) if done >= m => break,
                Some(m) => batch.min((m - done) as usize),
                None => batch,
            };
            let rows = self.store.rows_not_sealed_with(authority, generation, after, want)?;
            if rows.is_empty() {
                break;
            }
            let keys = self.keys(authority)?;
            let mut resealed = Vec::with_capacity(rows.len());
            let mut expected = Vec::with_capacity(rows.len());
            for row in rows {
                if row.valid_to.is_none() {
                    after = after.max(row.id);
                }
                let entry = keys.open_row(&row)?;
                expected.push(row.key_generation);
                let sealed = keys.seal_fields(row.id, row.version, &entry);
                resealed.push(rollguard_store::ElectorRow { key_generation: generation, sealed, ..row });
            }
            done += self.store.reseal_rows(&resealed, &expected)?;
            progress(done);
        }
        let mut retired = 0;
        if self.store.rows_not_sealed_with(authority, generation, 0, 1)?.is_empty() {
            let old: Vec<u32> =
                self.keys(authority)?.seal.keys().copied().filter(|g| *g != generation).collect();
            for g in old {
                self.store.retire_data_key(authority, KeyPurpose::Seal, g)?;
                retired += 1;
            }
            self.reload_keys()?;
        }
        Ok(ResealReport { resealed: done, generation, retired })
    }
}

impl<S: RegisterStore + AccessStore> Vault<S> {
    /// Rotates the key-encryption key: a new KEK in the keyring, every data key rewrapped
    /// under it in one transaction, the system keys (which seal TOTP secrets) likewise, then
    /// the old KEKs destroyed. Data keys and rows are untouched, so readers carry on
    /// throughout.
    pub fn rotate_kek(&mut self) -> Result<KekRotation> {
        let old: Vec<KekId> = self.keyring.kek_ids();
        let new_kek = self.keyring.add_kek()?;
        let mut rewrapped = Vec::new();
        for k in self.store.data_keys()? {
            let ctx = wrap_ctx(&k);
            let key = self
                .keyring
                .unwrap(&WrappedKey { kek: KekId(k.kek_id.clone()), bytes: k.wrapped.clone() }, &ctx)?;
            let w = self.keyring.wrap(&key, &ctx)?;
            rewrapped.push(DataKeyRecord { kek_id: w.kek.0, wrapped: w.bytes, ..k });
        }
        self.store.rewrap_data_keys(&rewrapped)?;
        for k in self.store.system_keys()? {
            let ctx = WrapContext { authority: SYSTEM_KEY_AUTHORITY, purpose: &k.purpose, generation: 1 };
            let key = self
                .keyring
                .unwrap(&WrappedKey { kek: KekId(k.kek_id.clone()), bytes: k.wrapped.clone() }, &ctx)?;
            let w = self.keyring.wrap(&key, &ctx)?;
            self.store.put_system_key(&SystemKeyRecord { kek_id: w.kek.0, wrapped: w.bytes, ..k })?;
        }
        // Only once every data key is committed under the new KEK are the old ones destroyed.
        for id in &old {
            self.keyring.remove_kek(id)?;
        }
        self.reload_keys()?;
        Ok(KekRotation { new_kek, removed: old, rewrapped: rewrapped.len() })
    }
}

//! Authorities, keys, imports and canaries: the operator's use cases. Each records its
//! event in the transaction that makes the change (an import's in the import's own).

use crate::audit::emit;
use crate::{Actor, Result, Service, ServiceError};
use rollguard_access::Permission;
use rollguard_audit::{Kind, Outcome};
use rollguard_register::Nation;
use rollguard_store::{AuthorityRecord, DataKeyRecord};
use rollguard_vault::{
    ImportOptions, ImportReport, KekRotation, Registry, ReindexReport, ResealReport, UpgradeReport,
};
use std::io::Read;

/// Counts rows done, for progress bars.
pub type ResealProgress<'a> = rollguard_vault::Progress<'a>;

/// The keyring and every data key (ids and generations only, never key material).
#[derive(Debug, Clone)]
pub struct KeyStatus {
    pub keyring: String,
    pub current_kek: String,
    pub data_keys: Vec<DataKeyRecord>,
}

impl Service {
    /// Creates an authority with its own data keys; returns its code. A server that is
    /// running uses them at once (the key epoch moves).
    pub fn create_authority(&self, actor: &Actor, code: &str, name: &str, nation: Nation) -> Result<String> {
        self.require_everywhere(actor, Permission::KeyAdmin)?;
        let (svc, actor, code, name) = (self.clone(), actor.clone(), code.to_owned(), name.to_owned());
        let now_ms = self.now_ms();
        self.register().write(move |tx| -> Result<String> {
            let code = svc.keys().create_authority(tx, &code, &name, nation)?;
            let ev = actor
                .event(now_ms, Kind::KeyOperation, Outcome::Success)
                .authority(code.clone())
                .detail("operation", "authority-add")
                .detail("nation", nation.code());
            emit(tx, &ev)?;
            Ok(code)
        })
    }

    /// Authorities, with how many current electors each has.
    pub fn authorities(&self) -> Result<Vec<(AuthorityRecord, u64)>> {
        self.register().read(|tx| -> Result<_> {
            let mut out = Vec::new();
            for a in tx.authorities()? {
                let n = tx.count_electors(&a.code)?;
                out.push((a, n));
            }
            Ok(out)
        })
    }

    /// The franchise marker table an authority uses.
    pub fn franchise_table(&self, authority: &str) -> Result<rollguard_register::FranchiseTable> {
        let code = authority.to_ascii_uppercase();
        self.register().read(|tx| -> Result<_> { Ok(self.vault(tx)?.franchise_table(&code)?.clone()) })
    }

    pub fn key_status(&self, actor: &Actor) -> Result<KeyStatus> {
        self.require_everywhere(actor, Permission::KeyAdmin)?;
        let data_keys = self.register().read(|tx| tx.data_keys())?;
        let keyring = self.keys().keyring();
        Ok(KeyStatus { keyring: keyring.describe(), current_kek: keyring.current().0, data_keys })
    }

    /// Rotates the key-encryption key, with the register online.
    pub fn rotate_kek(&self, actor: &Actor) -> Result<KekRotation> {
        self.require_everywhere(actor, Permission::KeyAdmin)?;
        let ev = self.event(actor, Kind::KeyOperation, Outcome::Success).detail("operation", "rotate-kek");
        Ok(self.keys().rotate_kek(self.register(), ev.canonical())?)
    }

    /// Starts a new seal-key generation for `authority`; new writes use it at once.
    pub fn rotate_data_key(&self, actor: &Actor, authority: &str) -> Result<u32> {
        self.require(actor, Permission::KeyAdmin, authority)?;
        let (svc, actor, code) = (self.clone(), actor.clone(), authority.to_ascii_uppercase());
        let now_ms = self.now_ms();
        self.register().write(move |tx| -> Result<u32> {
            let generation = svc.keys().rotate_data_key(tx, &code)?;
            let ev = actor
                .event(now_ms, Kind::KeyOperation, Outcome::Success)
                .authority(code)
                .detail("operation", "rotate-data-key")
                .detail("generation", generation.to_string());
            emit(tx, &ev)?;
            Ok(generation)
        })
    }

    /// Re-seals rows still under an older seal-key generation, in batches that each commit:
    /// resumable. The operation is recorded before it starts.
    pub fn reseal(
        &self,
        actor: &Actor,
        authority: &str,
        batch: usize,
        max_rows: Option<u64>,
        progress: ResealProgress<'_>,
    ) -> Result<ResealReport> {
        self.require(actor, Permission::KeyAdmin, authority)?;
        let code = authority.to_ascii_uppercase();
        let ev = self
            .event(actor, Kind::KeyOperation, Outcome::Success)
            .authority(code.clone())
            .detail("operation", "reseal");
        self.record(ev)?;
        Ok(self.keys().reseal(self.register(), &code, batch.max(1), max_rows, progress)?)
    }

    /// Imports register CSV into `authority`, all or nothing, on a connection of its own;
    /// the import's event (how many, from which id) commits with the rows.
    pub fn import_csv<R: Read + Send>(
        &self,
        actor: &Actor,
        authority: &str,
        reader: R,
        opts: &ImportOptions,
        progress: rollguard_vault::Progress<'_>,
    ) -> Result<ImportReport> {
        self.require(actor, Permission::ElectorWrite, authority)?;
        let code = authority.to_ascii_uppercase();
        let vault = self.register().read(|tx| self.vault(tx))?;
        let base = self.event(actor, Kind::RegisterImport, Outcome::Success).authority(code.clone());
        let event = move |count: u64, first: u64| {
            base.clone().detail("count", count.to_string()).detail("first_id", first.to_string()).canonical()
        };
        self.register().bulk(|store| -> Result<ImportReport> {
            Ok(vault.import_csv(store, &code, reader, opts, &event, progress)?)
        })
    }

    /// Moves a register written before schema 10 into the sealed layout, in batches of
    /// `batch` entries (each one transaction with its event), all of them unless
    /// `max_batches`. Resumable; reads go on throughout. Needs key administration everywhere.
    pub fn upgrade_layout(
        &self,
        actor: &Actor,
        batch: usize,
        max_batches: Option<u64>,
    ) -> Result<UpgradeReport> {
        self.require_everywhere(actor, Permission::KeyAdmin)?;
        let vault = self.register().read(|tx| self.vault(tx))?;
        let base = self.event(actor, Kind::ConfigChange, Outcome::Success);
        // Every batch says the same, so the log tells nothing of where canaries are;
        // detection reloads the canaries on each.
        let event = std::sync::Arc::new(move |moved: u64| {
            base.clone().detail("change", "layout-upgrade").detail("moved", moved.to_string()).canonical()
        });
        Ok(vault.upgrade_layout(self.register(), batch, max_batches, event)?)
    }

    /// Brings `authority`'s bucketed blind indexes to the widths its size calls for (see
    /// `rollguard_vault::planned_bits`), resumably; searches stay correct throughout.
    pub fn reindex(
        &self,
        actor: &Actor,
        authority: &str,
        batch: usize,
        max_batches: Option<u64>,
    ) -> Result<ReindexReport> {
        self.require(actor, Permission::KeyAdmin, authority)?;
        let code = authority.to_ascii_uppercase();
        let ev = self
            .event(actor, Kind::ConfigChange, Outcome::Success)
            .authority(code.clone())
            .detail("change", "reindex");
        self.record(ev)?;
        let vault = self.register().read(|tx| self.vault(tx))?;
        Ok(vault.reindex(self.register(), &code, batch.max(1), max_batches)?)
    }

    /// Writes a consistent, still-sealed copy of the register to `path` (recorded first: a
    /// copy of the database is worth knowing about).
    pub fn backup(&self, actor: &Actor, path: &std::path::Path) -> Result<()> {
        self.require_everywhere(actor, Permission::KeyAdmin)?;
        let ev = self
            .event(actor, Kind::ConfigChange, Outcome::Success)
            .detail("change", "backup")
            .detail("file", path.display().to_string());
        self.record(ev)?;
        self.register().bulk(|store| -> Result<()> { Ok(store.backup_to(path)?) })
    }

    /// The sealed registry of canaries and supplies, every authority's: opening it needs
    /// `alert:read` everywhere, and is an audited read.
    pub fn registry(&self, actor: &Actor, purpose: &str) -> Result<Registry> {
        self.require_everywhere(actor, Permission::AlertRead)?;
        let registry =
            self.register().read(|tx| -> Result<Registry> { Ok(self.vault(tx)?.registry(tx)?) })?;
        self.record(self.event(actor, Kind::AuditRead, Outcome::Success).detail("action", purpose))?;
        Ok(registry)
    }

    /// Plants `count` canary electors in `authority`, numbered as recent additions to its
    /// districts, in one transaction with the registry entry and the event (which says how
    /// many, never which).
    pub fn plant_canaries(&self, actor: &Actor, authority: &str, count: u32) -> Result<Vec<u64>> {
        use rand::Rng;
        self.require(actor, Permission::KeyAdmin, authority)?;
        let (svc, actor, code) = (self.clone(), actor.clone(), authority.to_ascii_uppercase());
        let (today, now_ms) = (self.clock().today(), self.now_ms());
        self.register().write(move |tx| -> Result<Vec<u64>> {
            let vault = svc.vault(&*tx)?;
            let table = vault.franchise_table(&code)?.clone();
            let current = vault.current_register(&*tx, &code)?;
            let numbers: Vec<String> = current.iter().map(|e| e.entry.number.to_string()).collect();
            let mut next = rollguard_vault::registry::district_maxima(numbers.iter().map(String::as_str));
            let districts: Vec<String> = next.keys().cloned().collect();
            // A canary never lives at a postcode a real elector has: a real household's
            // lookup by its postcode must not touch one (and suspend the officer).
            let squash =
                |p: &str| p.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_uppercase();
            let mut taken: std::collections::HashSet<String> =
                current.iter().map(|e| squash(&e.entry.address.postcode.to_string())).collect();
            let mut rng = rand::thread_rng();
            let mut generator = rollguard_synth::Generator::new(rng.gen(), table, today);
            let mut ids = Vec::new();
            let mut attempts = 0;
            while ids.len() < count as usize {
                attempts += 1;
                if attempts > count as usize * 20 + 100 {
                    return Err(ServiceError::Conflict(
                        "could not make enough distinct canary entries".into(),
                    ));
                }
                let mut text = generator.next_entry();
                if !taken.insert(squash(&text.postcode)) {
                    continue;
                }
                if !districts.is_empty() {
                    let d = &districts[rng.gen_range(0..districts.len())];
                    let slot = next.get_mut(d).expect("district listed");
                    *slot += 1;
                    text.elector_number = format!("{d}-{slot}");
                }
                // Registered some time in the last four years, like everyone else.
                let effective = today - time::Duration::days(rng.gen_range(30..1460));
                match vault.add(tx, &code, &text, effective, today, now_ms / 1000, false) {
                    Ok(id) => ids.push(id),
                    Err(rollguard_vault::VaultError::PossibleDuplicate { .. })
                    | Err(rollguard_vault::VaultError::DuplicateNino { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            vault.record_canaries(tx, &code, &ids, now_ms / 1000)?;
            let ev = actor
                .event(now_ms, Kind::ConfigChange, Outcome::Success)
                .authority(code)
                .detail("change", "canary-plant")
                .detail("count", ids.len().to_string());
            emit(tx, &ev)?;
            Ok(ids)
        })
    }
}

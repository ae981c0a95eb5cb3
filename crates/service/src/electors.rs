//! Electors: read, search, history, add, amend, delete. Refusals come before any lookup; an
//! elector of another authority is "not found" exactly as a missing one is.

use crate::audit::emit;
use crate::{Actor, Result, Service, ServiceError};
use rollguard_access::Permission;
use rollguard_audit::{Kind, Outcome};
use rollguard_register::{Date, DeletionReason, EntryText};
use rollguard_vault::{Elector, Search, CSV_COLUMNS};

/// An elector to add.
#[derive(Debug, Clone, Default)]
pub struct NewElector {
    pub text: EntryText,
    /// When the entry takes effect (default: today, in the UK).
    pub effective: Option<Date>,
    /// Add even though an entry with the same name, birth date and address exists.
    pub allow_possible_duplicate: bool,
}

/// Changes to an entry, by register CSV column.
#[derive(Debug, Clone, Default)]
pub struct Amendment {
    pub set: Vec<(String, String)>,
    pub effective: Option<Date>,
    /// The version the change was made against: if the entry has moved on since, the
    /// amendment is refused as changed meanwhile.
    pub expected_version: Option<u32>,
}

/// Applies `column → value` pairs to an entry's text; an unknown column is refused by name.
pub fn apply_columns(text: &mut EntryText, pairs: &[(String, String)]) -> Result<()> {
    for (name, value) in pairs {
        let col = CSV_COLUMNS.iter().find(|c| c.name == name).ok_or_else(|| {
            let known: Vec<&str> = CSV_COLUMNS.iter().map(|c| c.name).collect();
            ServiceError::bad_request(format!("unknown column `{name}`; columns: {}", known.join(", ")))
        })?;
        (col.set)(text, value.clone());
    }
    Ok(())
}

/// The names of the columns an entry's text fills (never their values).
fn filled(text: &EntryText) -> Vec<String> {
    CSV_COLUMNS.iter().filter(|c| !(c.get)(text).is_empty()).map(|c| c.name.to_owned()).collect()
}

/// Each elector's id and polling district, for district coverage.
fn districts_of<'a>(electors: impl IntoIterator<Item = &'a Elector>) -> Vec<(u64, String)> {
    electors.into_iter().map(|e| (e.id, e.entry.number.district.as_str().to_owned())).collect()
}

fn criteria(q: &Search) -> String {
    [
        ("surname", q.surname.is_some()),
        ("postcode", q.postcode.is_some()),
        ("date_of_birth", q.date_of_birth.is_some()),
        ("elector_number", q.elector_number.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, given)| given.then_some(name))
    .collect::<Vec<_>>()
    .join(",")
}

impl Service {
    /// Reads one elector, checking it belongs to `authority` (the console may leave that to
    /// the elector itself).
    fn lookup(
        &self,
        actor: &Actor,
        authority: Option<&str>,
        permission: Permission,
        id: u64,
    ) -> Result<Elector> {
        if let Some(a) = authority {
            self.require(actor, permission, a)?;
        }
        let e = self.register().read(|tx| -> Result<Elector> { Ok(self.vault(tx)?.elector(tx, id)?) })?;
        match authority {
            Some(a) if !e.authority.eq_ignore_ascii_case(a) => Err(ServiceError::NotFound),
            Some(_) => Ok(e),
            None => {
                self.require(actor, permission, &e.authority)?;
                Ok(e)
            }
        }
    }

    /// An elector's current entry.
    pub fn elector(&self, actor: &Actor, authority: Option<&str>, id: u64) -> Result<Elector> {
        let e = self.lookup(actor, authority, Permission::ElectorRead, id)?;
        // The entry's own id, whatever id reached it (an id from before the sealed layout
        // resolves to it): budgets, canaries and the log all know it by that one.
        let ev = self
            .event(actor, Kind::ElectorRead, Outcome::Success)
            .authority(e.authority.clone())
            .electors([e.id]);
        self.record_read(actor, &e.authority, (vec![e.id], districts_of([&e])), ev)?;
        Ok(e)
    }

    /// Every version of an elector's entry, oldest first.
    pub fn elector_history(&self, actor: &Actor, authority: Option<&str>, id: u64) -> Result<Vec<Elector>> {
        let current = self.lookup(actor, authority, Permission::ElectorRead, id)?;
        let id = current.id;
        let versions =
            self.register().read(|tx| -> Result<Vec<Elector>> { Ok(self.vault(tx)?.history(tx, id)?) })?;
        let ev = self
            .event(actor, Kind::ElectorRead, Outcome::Success)
            .authority(current.authority.clone())
            .electors([id])
            .detail("versions", versions.len().to_string());
        self.record_read(actor, &current.authority, (vec![id], districts_of([&current])), ev)?;
        Ok(versions)
    }

    /// Equality search on the blind indexes of one authority; every criterion given must
    /// match.
    pub fn search_electors(&self, actor: &Actor, authority: &str, q: &Search) -> Result<Vec<Elector>> {
        self.require(actor, Permission::ElectorRead, authority)?;
        let code = authority.to_ascii_uppercase();
        let found = self
            .register()
            .read(|tx| -> Result<Vec<Elector>> { Ok(self.vault(tx)?.search(tx, &code, q)?) })?;
        let ids: Vec<u64> = found.iter().map(|e| e.id).collect();
        let ev = self
            .event(actor, Kind::ElectorSearch, Outcome::Success)
            .authority(code.clone())
            .electors(ids.iter().copied())
            .detail("criteria", criteria(q))
            .detail("results", found.len().to_string());
        self.record_read(actor, &code, (ids, districts_of(&found)), ev)?;
        Ok(found)
    }

    /// The electors whose data a breach reached, opened for notification letters: one read,
    /// one audit event listing them all, charged like any read.
    pub fn electors_to_notify(
        &self,
        actor: &Actor,
        ids: Vec<u64>,
        scope: Option<String>,
    ) -> Result<Vec<Elector>> {
        let electors = self.register().read(|tx| -> Result<Vec<Elector>> {
            let vault = self.vault(tx)?;
            ids.iter().map(|id| Ok(vault.elector(tx, *id)?)).collect()
        })?;
        for e in &electors {
            self.require(actor, Permission::ElectorRead, &e.authority)?;
        }
        let mut ev = self
            .event(actor, Kind::ElectorRead, Outcome::Success)
            .electors(ids.iter().copied())
            .detail("purpose", "breach-notification");
        if let Some(p) = scope {
            ev.detail.insert("scope_principal".into(), p);
        }
        let authority = electors.first().map(|e| e.authority.clone()).unwrap_or_default();
        // Breach letters are a console job across authorities: no district coverage.
        self.record_read(actor, &authority, (ids, Vec::new()), ev)?;
        Ok(electors)
    }

    /// Adds an elector; returns its id.
    pub fn add_elector(&self, actor: &Actor, authority: &str, new: NewElector) -> Result<u64> {
        self.require(actor, Permission::ElectorWrite, authority)?;
        let (svc, actor, code) = (self.clone(), actor.clone(), authority.to_ascii_uppercase());
        let (today, now_ms) = (self.clock().today(), self.now_ms());
        self.register().write(move |tx| -> Result<u64> {
            let vault = svc.vault(&*tx)?;
            let effective = new.effective.unwrap_or(today);
            let id = vault.add(
                tx,
                &code,
                &new.text,
                effective,
                today,
                now_ms / 1000,
                new.allow_possible_duplicate,
            )?;
            let mut ev = actor
                .event(now_ms, Kind::ElectorWrite, Outcome::Success)
                .authority(code)
                .electors([id])
                .detail("change", "added");
            ev.fields = filled(&new.text);
            emit(tx, &ev)?;
            Ok(id)
        })
    }

    /// Amends an elector: a new version, the old one kept in the history. Returns the new
    /// version.
    pub fn amend_elector(
        &self,
        actor: &Actor,
        authority: Option<&str>,
        id: u64,
        change: Amendment,
    ) -> Result<u32> {
        if let Some(a) = authority {
            self.require(actor, Permission::ElectorWrite, a)?;
        }
        let (svc, actor, authority) = (self.clone(), actor.clone(), authority.map(str::to_owned));
        let (today, now_ms) = (self.clock().today(), self.now_ms());
        self.register().write(move |tx| -> Result<u32> {
            let vault = svc.vault(&*tx)?;
            let current = vault.elector(&*tx, id)?;
            let id = current.id;
            Service::check_owner(&actor, authority.as_deref(), &current.authority, Permission::ElectorWrite)?;
            let mut text = current.entry.to_text();
            apply_columns(&mut text, &change.set)?;
            let effective = change.effective.unwrap_or(today);
            let done =
                vault.amend(tx, id, &text, effective, today, now_ms / 1000, change.expected_version)?;
            let mut ev = actor
                .event(now_ms, Kind::ElectorWrite, Outcome::Success)
                .authority(done.authority)
                .electors([id])
                .detail("change", "amended")
                .detail("version", done.version.to_string());
            ev.fields = done.fields;
            emit(tx, &ev)?;
            Ok(done.version)
        })
    }

    /// Deletes an elector with a reason; the history is kept. Returns the new version.
    pub fn delete_elector(
        &self,
        actor: &Actor,
        authority: Option<&str>,
        id: u64,
        reason: DeletionReason,
        effective: Option<Date>,
    ) -> Result<u32> {
        if let Some(a) = authority {
            self.require(actor, Permission::ElectorWrite, a)?;
        }
        let (svc, actor, authority) = (self.clone(), actor.clone(), authority.map(str::to_owned));
        let (today, now_ms) = (self.clock().today(), self.now_ms());
        self.register().write(move |tx| -> Result<u32> {
            let vault = svc.vault(&*tx)?;
            let current = match vault.elector(&*tx, id) {
                Err(rollguard_vault::VaultError::UnknownElector(_)) => return Err(ServiceError::NotFound),
                other => other?,
            };
            let (id, owner) = (current.id, current.authority);
            Service::check_owner(&actor, authority.as_deref(), &owner, Permission::ElectorWrite)?;
            let (authority, version) =
                vault.delete(tx, id, reason, effective.unwrap_or(today), now_ms / 1000)?;
            let ev = actor
                .event(now_ms, Kind::ElectorWrite, Outcome::Success)
                .authority(authority)
                .electors([id])
                .detail("change", format!("deleted:{reason}"))
                .detail("version", version.to_string());
            emit(tx, &ev)?;
            Ok(version)
        })
    }
}

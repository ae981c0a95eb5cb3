//! Applications to register: received → identity checked → determined (added or rejected).
//! The applicant's details are sealed as one value bound to the application id.

use crate::csv_format::CSV_COLUMNS;
use crate::{field, now_secs, Result, Vault, VaultError};
use rollguard_register::{
    Application, ApplicationStatus, ChangeKind, Date, Determination, ElectorNumber, EntryText, IdentityRoute,
    RejectionReason,
};
use rollguard_sealing::IndexKind;
use rollguard_store::{ApplicationRow, IdKind, RegisterStore};
use zeroize::Zeroizing;

/// An application as staff see it.
#[derive(Debug, Clone)]
pub struct ApplicationView {
    pub id: u64,
    pub authority: String,
    pub received_on: Date,
    pub status: ApplicationStatus,
    pub determined_on: Option<Date>,
    pub applicant: EntryText,
}

const UNIT: char = '\u{1f}';
/// Validation needs a number; applicants do not have one until they are added.
const PLACEHOLDER_NUMBER: &str = "A-1";

fn encode(text: &EntryText) -> Zeroizing<String> {
    let mut blank = text.clone();
    blank.nino.clear(); // never sealed: only its keyed hash is kept
    Zeroizing::new(CSV_COLUMNS.iter().map(|c| (c.get)(&blank)).collect::<Vec<_>>().join(&UNIT.to_string()))
}

fn decode(s: &str) -> Result<EntryText> {
    let parts: Vec<&str> = s.split(UNIT).collect();
    if parts.len() != CSV_COLUMNS.len() {
        return Err(VaultError::Corrupt("sealed application does not decode".into()));
    }
    let mut t = EntryText::default();
    for (c, v) in CSV_COLUMNS.iter().zip(parts) {
        (c.set)(&mut t, v.to_owned());
    }
    Ok(t)
}

fn status_of(row: &ApplicationRow) -> Result<ApplicationStatus> {
    let corrupt = || VaultError::Corrupt(format!("application {} has an unknown status", row.id));
    Ok(match row.status.as_str() {
        "received" => ApplicationStatus::Received,
        "identity-checked" => ApplicationStatus::IdentityChecked(
            row.route.as_deref().ok_or_else(corrupt)?.parse().map_err(|_| corrupt())?,
        ),
        "added" => ApplicationStatus::Determined(Determination::Added {
            elector_id: row.elector_id.ok_or_else(corrupt)?,
        }),
        "rejected" => ApplicationStatus::Determined(Determination::Rejected(
            row.outcome.as_deref().ok_or_else(corrupt)?.parse().map_err(|_| corrupt())?,
        )),
        _ => return Err(corrupt()),
    })
}

fn apply(row: &mut ApplicationRow, app: &Application) {
    row.status = app.status.code().to_owned();
    row.determined_on = app.determined_on;
    match app.status {
        ApplicationStatus::IdentityChecked(route) => row.route = Some(route.code().to_owned()),
        ApplicationStatus::Determined(Determination::Added { elector_id }) => {
            row.elector_id = Some(elector_id)
        }
        ApplicationStatus::Determined(Determination::Rejected(r)) => row.outcome = Some(r.code().to_owned()),
        ApplicationStatus::Received => {}
    }
    row.recorded_at = now_secs();
}

impl<S: RegisterStore> Vault<S> {
    /// Records a new application. Every field is validated now; the elector number may be
    /// left empty until the application is determined.
    pub fn receive_application(
        &mut self,
        authority: &str,
        text: &EntryText,
        received_on: Date,
        today: Date,
    ) -> Result<u64> {
        let keys = self.keys(authority)?;
        let mut check = text.clone();
        if check.elector_number.trim().is_empty() {
            check.elector_number = PLACEHOLDER_NUMBER.into();
        }
        let (_, nino) = check.validate(&keys.table, today)?;
        let id = self.store.reserve_ids(IdKind::Application, 1)?;
        let keys = self.keys(authority)?;
        let sealed = keys.active().seal(&keys.ctx(id, field::APPLICATION, 1), encode(text).as_bytes());
        let row = ApplicationRow {
            id,
            authority: keys.code.clone(),
            status: "received".into(),
            route: None,
            received_on,
            determined_on: None,
            outcome: None,
            elector_id: None,
            key_generation: keys.active_seal,
            sealed_application: sealed.0,
            nino: nino.map(|n| keys.index.blind(IndexKind::Nino, n.normalised()).0),
            recorded_at: now_secs(),
        };
        self.store.insert_application(&row)?;
        Ok(id)
    }

    fn load_application(&self, id: u64) -> Result<(ApplicationRow, Application)> {
        let row = self.store.application(id)?.ok_or(VaultError::UnknownApplication(id))?;
        let app = Application {
            id,
            received_on: row.received_on,
            status: status_of(&row)?,
            determined_on: row.determined_on,
        };
        Ok((row, app))
    }

    pub fn application(&self, id: u64) -> Result<ApplicationView> {
        let (row, app) = self.load_application(id)?;
        let keys = self.keys(&row.authority)?;
        let key = keys
            .seal
            .get(&row.key_generation)
            .ok_or_else(|| VaultError::Corrupt("no seal key for application".into()))?;
        let plain = key.open(&keys.ctx(id, field::APPLICATION, 1), &row.sealed_application)?;
        let text = decode(
            std::str::from_utf8(&plain)
                .map_err(|_| VaultError::Corrupt("application is not UTF-8".into()))?,
        )?;
        Ok(ApplicationView {
            id,
            authority: row.authority,
            received_on: row.received_on,
            status: app.status,
            determined_on: app.determined_on,
            applicant: text,
        })
    }

    pub fn check_identity(&mut self, id: u64, route: IdentityRoute) -> Result<()> {
        let (mut row, mut app) = self.load_application(id)?;
        app.check_identity(route)?;
        apply(&mut row, &app);
        Ok(self.store.update_application(&row)?)
    }

    pub fn reject_application(&mut self, id: u64, reason: RejectionReason, on: Date) -> Result<()> {
        let (mut row, mut app) = self.load_application(id)?;
        app.determine_rejected(reason, on)?;
        apply(&mut row, &app);
        Ok(self.store.update_application(&row)?)
    }

    /// Adds the applicant to the register with `number` (or the number on the application),
    /// effective `on`. The application and the new entry are written in one transaction.
    pub fn add_from_application(
        &mut self,
        id: u64,
        number: Option<&ElectorNumber>,
        on: Date,
        today: Date,
        allow_possible_duplicate: bool,
    ) -> Result<u64> {
        let view = self.application(id)?;
        let (mut row, mut app) = self.load_application(id)?;
        let mut text = view.applicant;
        if let Some(n) = number {
            text.elector_number = n.to_string();
        }
        if text.elector_number.trim().is_empty() {
            return Err(VaultError::NumberRequired);
        }
        let elector_id = self.store.reserve_ids(IdKind::Elector, 1)?;
        app.determine_added(elector_id, on)?;
        let keys = self.keys(&row.authority)?;
        let (entry, _) = text.validate(&keys.table, today)?;
        let mut elector = keys.row(elector_id, 1, on, now_secs(), &ChangeKind::Added, &entry, None);
        elector.blind.nino = row.nino;
        let authority = row.authority.clone();
        self.check_duplicates(&authority, &elector, allow_possible_duplicate)?;
        apply(&mut row, &app);
        self.store.determine_application_added(&row, &elector)?;
        Ok(elector_id)
    }
}

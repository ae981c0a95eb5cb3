//! Applications to register: received → identity checked → determined (added or rejected).
//! The applicant's details are sealed as one value bound to the application id.

use crate::csv_format::CSV_COLUMNS;
use crate::{field, Result, Vault, VaultError};
use rollguard_register::{
    Application, ApplicationStatus, ChangeKind, Date, Determination, ElectorNumber, EntryText, IdentityRoute,
    RejectionReason,
};
use rollguard_sealing::IndexKind;
use rollguard_store::{ApplicationRow, IdKind, ReadTx, WriteTx};
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

fn apply(row: &mut ApplicationRow, app: &Application, now: i64) {
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
    row.recorded_at = now;
}

impl Vault {
    /// Records a new application in `tx`. Every field is validated now; the elector number
    /// may be left empty until the application is determined.
    pub fn receive_application(
        &self,
        tx: &mut dyn WriteTx,
        authority: &str,
        text: &EntryText,
        received_on: Date,
        today: Date,
        now: i64,
    ) -> Result<u64> {
        let keys = self.keys(authority)?;
        let mut check = text.clone();
        if check.elector_number.trim().is_empty() {
            check.elector_number = PLACEHOLDER_NUMBER.into();
        }
        let (_, nino) = check.validate(&keys.table, today)?;
        let id = tx.reserve_ids(IdKind::Application, 1)?;
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
            recorded_at: now,
        };
        tx.insert_application(&row)?;
        Ok(id)
    }

    fn load_application(&self, tx: &dyn ReadTx, id: u64) -> Result<(ApplicationRow, Application)> {
        let row = tx.application(id)?.ok_or(VaultError::UnknownApplication(id))?;
        let app = Application {
            id,
            received_on: row.received_on,
            status: status_of(&row)?,
            determined_on: row.determined_on,
        };
        Ok((row, app))
    }

    pub fn application(&self, tx: &dyn ReadTx, id: u64) -> Result<ApplicationView> {
        let (row, app) = self.load_application(tx, id)?;
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

    /// The authority an application belongs to (without opening it).
    pub fn application_authority(&self, tx: &dyn ReadTx, id: u64) -> Result<String> {
        Ok(tx.application(id)?.ok_or(VaultError::UnknownApplication(id))?.authority)
    }

    pub fn check_identity(
        &self,
        tx: &mut dyn WriteTx,
        id: u64,
        route: IdentityRoute,
        now: i64,
    ) -> Result<()> {
        let (mut row, mut app) = self.load_application(&*tx, id)?;
        app.check_identity(route)?;
        apply(&mut row, &app, now);
        Ok(tx.update_application(&row)?)
    }

    pub fn reject_application(
        &self,
        tx: &mut dyn WriteTx,
        id: u64,
        reason: RejectionReason,
        on: Date,
        now: i64,
    ) -> Result<()> {
        let (mut row, mut app) = self.load_application(&*tx, id)?;
        app.determine_rejected(reason, on)?;
        apply(&mut row, &app, now);
        Ok(tx.update_application(&row)?)
    }

    /// Adds the applicant to the register with `number` (or the number on the application),
    /// effective `on`, in `tx` together with the application's determination.
    #[allow(clippy::too_many_arguments)]
    pub fn add_from_application(
        &self,
        tx: &mut dyn WriteTx,
        id: u64,
        number: Option<&ElectorNumber>,
        on: Date,
        today: Date,
        now: i64,
        allow_possible_duplicate: bool,
    ) -> Result<u64> {
        let view = self.application(&*tx, id)?;
        let (mut row, mut app) = self.load_application(&*tx, id)?;
        let mut text = view.applicant;
        if let Some(n) = number {
            text.elector_number = n.to_string();
        }
        if text.elector_number.trim().is_empty() {
            return Err(VaultError::NumberRequired);
        }
        let keys = self.keys(&row.authority)?;
        let (entry, _) = text.validate(&keys.table, today)?;
        let blind = keys.blind_values(&entry, row.nino);
        crate::check_duplicates(&*tx, keys, &blind, None, allow_possible_duplicate)?;
        let elector_id = self.new_elector_id(tx, &row.authority)?;
        app.determine_added(elector_id, on)?;
        let elector = keys.row(elector_id, 1, on, now, &ChangeKind::Added, &entry, row.nino);
        let widths = crate::Widths::of(&*tx, &row.authority)?;
        let index = blind.stored(&keys.refs, elector_id, false, &widths);
        apply(&mut row, &app, now);
        tx.update_application(&row)?;
        tx.insert_elector(&elector, &index)?;
        Ok(elector_id)
    }
}

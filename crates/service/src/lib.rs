//! Rollguard's use cases. Each is one function of [`Service`], called alike by the CLI, the
//! HTTP API and (later) the web pages, so a use case is written once.
//!
//! A use case runs in one register transaction that also holds its audit event, written to
//! the outbox (the sequencer later moves it into the Merkle log): no change is committed
//! without its event. A read of personal data takes its data in a read transaction, then
//! charges the reader's budget and writes its event in a write transaction, and returns the
//! data only once that is durable. Refusals are recorded in a transaction of their own.
//!
//! Nothing a use case relies on lives in one process's memory: budgets, login throttles,
//! suspensions and export freezes are rows of the register, so a restart or a second
//! server sees them.
#![forbid(unsafe_code)]

mod actor;
mod applications;
mod audit;
mod audit_view;
mod baseline;
mod budget;
pub mod clock;
mod coverage;
mod electors;
mod error;
mod keys;
mod login;
mod policy;
mod principals;
mod proposals;
mod reader_alert;
mod responses;
mod supplies;
mod tickets;

pub use actor::Actor;
pub use applications::Determination;
pub use audit_view::AuditView;
pub use baseline::{BASELINE_RULE, BASELINE_TITLE};
pub use budget::BUDGET_RULE;
pub use clock::{Clock, FixedClock, SystemClock};
pub use coverage::{COVERAGE_RULE, COVERAGE_TITLE};
pub use electors::{apply_columns, Amendment, NewElector};
pub use error::{Condition, Result, ServiceError};
pub use keys::{KeyStatus, ResealProgress};
pub use login::LoginRate;
pub use policy::{canvass_budgets, ordinary_budgets, Canvass, Policy, RoleBudgets};
pub use principals::{ActionDone, PrincipalAction, PrincipalView};
pub use proposals::{Change, Decided, ProposalView, Proposed, PROPOSAL_SECS};
pub use responses::{apply_response, RESPONSE_READER};
pub use supplies::Supply;
pub use tickets::{SupplyOrder, SupplyPolicy, TicketView};

use rollguard_access::{Accounts, AccountsConfig};
use rollguard_sealing::Keyring;
use rollguard_store::runtime::Connector;
use rollguard_store::{ReadTx, Register, RegisterConfig, StoreError};
use rollguard_vault::{KeyringOpener, Keys, Vault};
use std::sync::Arc;

/// The register is not ready with less than this free where its data lives: room for a few
/// thousand use cases, not one.
pub const MIN_FREE_BYTES: u64 = 1 << 20;

struct Inner {
    register: Register,
    keys: Keys,
    accounts: Accounts,
    clock: Arc<dyn Clock>,
    policy: Policy,
}

/// The register, its keys and policies: what every use case needs. Clones share it.
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

/// How to open a [`Service`].
pub struct Setup {
    pub connect: Connector,
    pub register: RegisterConfig,
    pub keyring: Box<dyn Keyring>,
    /// Opens the keyring again, when another process has rotated its key-encryption key.
    pub reopen_keyring: Option<KeyringOpener>,
    pub accounts: AccountsConfig,
    pub clock: Arc<dyn Clock>,
    pub policy: Policy,
}

impl Service {
    /// Opens the register's connections, unwraps its keys (creating the system keys it
    /// lacks), and readies the account policies.
    pub fn open(setup: Setup) -> Result<Self> {
        let register = Register::open(setup.connect, setup.register)?;
        let keys = Keys::open(setup.keyring, setup.reopen_keyring, &register)?;
        let totp = keys.current();
        let accounts = Accounts::new(totp.system_key(rollguard_vault::purpose::TOTP)?, setup.accounts)?;
        Ok(Self {
            inner: Arc::new(Inner { register, keys, accounts, clock: setup.clock, policy: setup.policy }),
        })
    }

    pub fn register(&self) -> &Register {
        &self.inner.register
    }

    pub fn keys(&self) -> &Keys {
        &self.inner.keys
    }

    pub fn accounts(&self) -> &Accounts {
        &self.inner.accounts
    }

    pub fn clock(&self) -> &dyn Clock {
        self.inner.clock.as_ref()
    }

    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    /// Whether the register can do its work: it answers, it takes writes (tried, after a
    /// write failed for the database's state, so readiness returns by itself once that
    /// clears), and its audit log is being sequenced (`log`: why not, if it is not).
    pub fn readiness(&self, log: Option<rollguard_audit::LogError>) -> Result<()> {
        self.register().read(|tx| tx.key_epoch())?;
        // A small write can fit in space the database's files already hold while the disk is
        // full (and background writes then clear `failing`): readiness looks at the space.
        if self.register().free_bytes().is_some_and(|f| f < MIN_FREE_BYTES) {
            return Err(StoreError::Full.into());
        }
        if self.register().failing().is_some() {
            let now = self.now_ms();
            self.register()
                .write(move |tx| -> Result<()> { Ok(tx.set_log_position("readiness-probe", 0, now)?) })?;
        }
        match log {
            None => Ok(()),
            Some(rollguard_audit::LogError::Store(e)) => Err(e.into()),
            Some(e) => Err(ServiceError::Unavailable { condition: Condition::Down, message: e.to_string() }),
        }
    }

    /// The keys as of `tx` (reloaded if another process changed them).
    pub(crate) fn vault(&self, tx: &dyn ReadTx) -> Result<Arc<Vault>> {
        Ok(self.inner.keys.vault(tx)?)
    }

    pub(crate) fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    pub(crate) fn now_secs(&self) -> i64 {
        self.inner.clock.now_secs()
    }
}

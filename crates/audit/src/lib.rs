//! The tamper-evident audit log: every access to personal data becomes an event in an
//! append-only RFC 6962 Merkle tree, whose heads are signed as C2SP checkpoints.
#![forbid(unsafe_code)]

pub mod event;
pub mod frontier;
pub mod log;
pub mod merkle;
pub mod note;
pub mod sequencer;
pub mod verify;

pub use event::{Event, Kind, Outcome};
pub use frontier::Frontier;
pub use log::{spawn_sequencer, AuditLog, LogConnector, LogError, Wake};
pub use note::{Checkpoint, NoteSigner, NoteVerifier};
pub use sequencer::{SequenceError, Sequenced};
pub use verify::{replay, Report, VerifyError};

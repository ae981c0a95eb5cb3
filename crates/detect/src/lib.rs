//! Rollguard's live detection. Audit events become [`Observed`] events, the [`Enricher`]
//! adds what the event alone does not say (network, local time, canaries, runs of ids), and
//! the [`Engine`] runs Sigma rules and correlations over them, raising [`Alert`]s.
//! [`Budget`] is a read budget and [`Baseline`] judges a day's reads against the reader's
//! own weeks and its peers'; the service keeps both in the register.
//!
//! Nothing here does network I/O; alert delivery lives in `rollguard-alerts`.
#![forbid(unsafe_code)]

mod alert_event;
pub mod baseline;
pub mod budget;
mod coverage;
pub mod district;
pub mod engine;
pub mod enrich;
pub mod fields;
pub mod ruleset;
pub mod sigma;

pub use baseline::{Baseline, DayThreshold};
pub use budget::{Budget, Exhausted};
pub use district::DistrictCoverage;
pub use engine::{Alert, Engine};
pub use enrich::{EnrichConfig, Enricher, ExportWindow, Zone};
pub use fields::{Field, Observed};
pub use ruleset::RuleSet;
pub use sigma::{Level, Response, RuleError};

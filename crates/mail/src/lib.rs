//! Rollguard's mail reconnaissance detector. [`source`] finds messages in `.eml` files, mbox
//! files and Maildir directories; a [`Scanner`] turns each into a [`Report`]: a verdict and
//! findings (tracking pixels and hidden images, per-recipient tracking images and links,
//! known trackers, redirectors, CSS beacons, sender anomalies, risky attachments).
//!
//! The scanner takes bytes and returns a report, with no I/O of its own, so the same code can
//! sit behind a milter on a live mail flow.
#![forbid(unsafe_code)]

pub mod campaign;
pub mod fixtures;
pub mod html;
pub mod neutralise;
pub mod report;
pub mod scan;
pub mod sender;
pub mod simhash;
pub mod source;
pub mod trackers;
pub mod url;

pub use campaign::{cluster, per_recipient_urls, Campaign};
pub use neutralise::{neutralise, Neutralised};
pub use report::{Finding, FindingKind, Report, Severity, Verdict};
pub use scan::{ScanConfig, Scanner};
pub use source::{walk, RawMessage, SourceError};
pub use trackers::{TrackerList, UrlContext};

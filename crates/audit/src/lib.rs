//! The tamper-evident audit log.
#![forbid(unsafe_code)]

pub mod merkle;

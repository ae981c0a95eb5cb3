//! Four eyes: changes proposed by one administrator, decided by another.

use crate::Result;

/// A proposed change and, once decided, who decided it and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposalRecord {
    pub id: u64,
    /// `grant`, `reset-mfa` or `reverse-response`.
    pub action: String,
    /// The principal's name, or the response's id.
    pub target: String,
    /// For a grant: `role@AUTHORITY`; otherwise empty.
    pub detail: String,
    pub proposed_by: String,
    pub proposed_at: i64,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    /// `approved` or `refused`.
    pub decision: Option<String>,
}

pub trait ProposalRead {
    fn proposal(&self, id: u64) -> Result<Option<ProposalRecord>>;
    /// The newest `limit` proposals, newest first.
    fn proposals(&self, limit: usize) -> Result<Vec<ProposalRecord>>;
}

pub trait ProposalWrite {
    /// Stores a new, undecided proposal; its id.
    fn insert_proposal(&mut self, p: &ProposalRecord) -> Result<u64>;
    /// Records the decision on an undecided proposal; false if it was already decided.
    fn decide_proposal(&mut self, id: u64, by: &str, decision: &str, at: i64) -> Result<bool>;
}

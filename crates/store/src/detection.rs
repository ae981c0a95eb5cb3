//! Storage for detection: automatic responses and the sealed registry.

use crate::Result;

/// One automatic response and, once reversed, who reversed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseRecord {
    pub id: u64,
    /// `suspend_principal`, `revoke_credentials` or `freeze_exports`.
    pub action: String,
    /// The principal acted on (none for a freeze).
    pub subject: Option<String>,
    pub rule: String,
    pub alert_seq: Option<u64>,
    pub created_at: i64,
    pub reversed_at: Option<i64>,
    pub reversed_by: Option<String>,
}

/// Reads of detection's records.
pub trait DetectionRead {
    /// Newest first.
    fn responses(&self, limit: usize) -> Result<Vec<ResponseRecord>>;
    fn response(&self, id: u64) -> Result<Option<ResponseRecord>>;
    /// Whether a response of `action` on `subject` (none: a freeze) is still in force,
    /// however many responses came after it.
    fn response_in_force(&self, action: &str, subject: Option<&str>) -> Result<bool>;
    /// Sealed bytes stored under `name`, if any.
    fn registry_blob(&self, name: &str) -> Result<Option<Vec<u8>>>;
}

/// Changes to detection's records, in a write transaction.
pub trait DetectionWrite: DetectionRead {
    fn insert_response(&mut self, r: &ResponseRecord) -> Result<u64>;
    /// Marks a response reversed; false if it was already reversed or does not exist.
    fn reverse_response(&mut self, id: u64, by: &str, at: i64) -> Result<bool>;
    /// Replaces the blob under `name`. Read it in the same transaction first, so two writers
    /// never lose each other's update.
    fn put_registry_blob(&mut self, name: &str, sealed: &[u8], now: i64) -> Result<()>;
}

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

pub trait DetectionStore {
    fn insert_response(&mut self, r: &ResponseRecord) -> Result<u64>;
    /// Newest first.
    fn responses(&self, limit: usize) -> Result<Vec<ResponseRecord>>;
    fn response(&self, id: u64) -> Result<Option<ResponseRecord>>;
    /// Whether a response of `action` on `subject` (none: a freeze) is still in force,
    /// however many responses came after it.
    fn response_in_force(&self, action: &str, subject: Option<&str>) -> Result<bool>;
    /// Marks a response reversed; false if it was already reversed or does not exist.
    fn reverse_response(&mut self, id: u64, by: &str, at: i64) -> Result<bool>;
    /// Sealed bytes stored under `name`, if any.
    fn registry_blob(&self, name: &str) -> Result<Option<Vec<u8>>>;
    /// Replaces the blob under `name` with what `change` makes of the current one, in one
    /// write transaction, so two writers never lose each other's update.
    fn update_registry_blob(
        &mut self,
        name: &str,
        change: &mut dyn FnMut(Option<Vec<u8>>) -> Result<Vec<u8>>,
    ) -> Result<()>;
}

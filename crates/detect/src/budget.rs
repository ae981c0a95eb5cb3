//! Read budgets: how many distinct electors a principal may read in a sliding window. The
//! service charges each read in the register, in the read's own transaction, before it
//! returns personal data (`rollguard-service`, `budget.rs`); a request that would go over is
//! refused whole, so no principal ever receives more than its budget per window.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Distinct electors allowed per window.
    pub distinct: u64,
    pub window_ms: i64,
}

/// A charge refused: nothing was counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("read budget exhausted: {used} of {limit} distinct electors read in the window, {asked} more asked")]
pub struct Exhausted {
    pub used: u64,
    pub limit: u64,
    pub asked: u64,
}

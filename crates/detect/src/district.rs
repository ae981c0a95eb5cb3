//! District coverage: a reader that has read a large share of one polling district's
//! entries inside the coverage window (four weeks) is covering it, in whatever order (or over
//! however many connections) the reads came. The service counts the reads per district in
//! the register (`rollguard-service`, `coverage.rs`).

/// When a reader is covering a district.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DistrictCoverage {
    /// The share of a district's entries, in per cent.
    pub percent: u64,
    /// Never fewer electors than this: a small district's few households are an ordinary
    /// day's lookups.
    pub min_electors: u64,
    /// How far back the reads count, in days.
    pub window_days: i64,
}

impl Default for DistrictCoverage {
    /// 40% of a district within four weeks, and at least 100 electors.
    fn default() -> Self {
        Self { percent: 40, min_electors: 100, window_days: 28 }
    }
}

impl DistrictCoverage {
    /// Never covered: district coverage off.
    pub const OFF: Self = Self { percent: 0, min_electors: u64::MAX, window_days: 28 };

    /// Distinct electors of a district of `size` entries that make a reader cover it.
    pub fn threshold(&self, size: u64) -> u64 {
        size.saturating_mul(self.percent).div_ceil(100).max(self.min_electors)
    }

    /// Whether going from `before` to `after` distinct electors read crosses the threshold
    /// (so it is alerted once, not at every read after it).
    pub fn crossed(&self, size: u64, before: u64, after: u64) -> bool {
        let t = self.threshold(size);
        before < t && after >= t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_district_is_covered_at_its_share_and_never_below_the_minimum() {
        let c = DistrictCoverage::default();
        assert_eq!(c.threshold(2_500), 1_000);
        assert_eq!(c.threshold(101), 100, "a small district: the minimum");
        assert!(!c.crossed(2_500, 990, 999));
        assert!(c.crossed(2_500, 999, 1_000));
        assert!(c.crossed(2_500, 950, 1_020), "a search that jumps past it");
        assert!(!c.crossed(2_500, 1_000, 1_001), "once");
        assert!(!c.crossed(60, 0, 60), "a district of 60 is never covered");
        assert!(!DistrictCoverage::OFF.crossed(2_500, 0, 2_500));
    }
}

//! An officer's stolen credentials (password and second factor, phished) reading household by
//! household through postcode searches, through every working day. Searches of real
//! postcodes never meet a canary. P3 reads the whole register just under the hourly and
//! daily budgets, which only the officer's baseline (its own weeks and its peers') can stop
//! before the weekly budget; P4 reads one polling district, in random order, slowly enough to
//! stay under the baseline too, which only district coverage stops.

use super::harness::Http;
use super::patient::{DAY_MS, HOUR_MS};
use super::weeks::Staff;
use super::AUTHORITY;
use crate::context::Result;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rollguard_service::FixedClock;

/// Records an hour the walker aims at: 880 in an eight-hour day, under the day's 900.
pub(super) const WALK_PACE: i64 = 110;

/// How far the walk got.
pub(super) struct Walk {
    /// The officer whose credentials were stolen.
    pub officer: String,
    /// The first working day's 09:00.
    pub from: i64,
    pub got: usize,
    pub cut_off_at: Option<i64>,
}

/// Records an hour the district walker aims at: 320 a day, under an officer's baseline.
pub(super) const DISTRICT_PACE: i64 = 40;

/// Walks `postcodes` in a random order as officer `i` at `pace` records an hour, from 09:00
/// to 17:00 on each of five days from `monday`, pacing each search by the records it returned.
pub(super) fn postcode_walk(
    http: &Http,
    clock: &FixedClock,
    (monday, pace): (i64, i64),
    staff: &Staff,
    (i, mut postcodes): (usize, Vec<String>),
) -> Result<Walk> {
    postcodes.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(110));
    let mut next = postcodes.into_iter();
    let mut walk =
        Walk { officer: staff.name(i).to_owned(), from: monday + HOUR_MS, got: 0, cut_off_at: None };
    let per_record = HOUR_MS / pace;
    for day in 0..5 {
        let (mut t, end) = (monday + day * DAY_MS + HOUR_MS, monday + day * DAY_MS + 9 * HOUR_MS);
        clock.set_ms(t);
        let Ok(session) = staff.log_in(http, clock, i) else {
            walk.cut_off_at = Some(t);
            return Ok(walk);
        };
        while t < end {
            let Some(postcode) = next.next() else { return Ok(walk) };
            clock.set_ms(t);
            let query = format!("postcode={}", super::harness::urlencode(&postcode));
            let (status, body) =
                http.get(&format!("/api/v1/authorities/{AUTHORITY}/electors?{query}"), Some(&session));
            match status {
                200 => {
                    let found =
                        serde_json::from_str::<Vec<serde_json::Value>>(&body).map(|v| v.len()).unwrap_or(0);
                    walk.got += found;
                    t += per_record * i64::try_from(found.max(1))?;
                }
                401 | 403 => {
                    walk.cut_off_at = Some(t);
                    return Ok(walk);
                }
                // Over a budget (429): the day is spent; the walker waits for the next.
                _ => break,
            }
        }
    }
    Ok(walk)
}

//! The policies use cases enforce: read budgets by role over several windows (and a higher
//! set for a declared canvass), the budget's response, login throttles and supply windows.

use crate::login::LoginRate;
use crate::Actor;
use rollguard_access::Role;
use rollguard_detect::{Baseline, Budget, DistrictCoverage, Response};
use rollguard_register::Date;
use std::collections::BTreeMap;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
const WEEK: i64 = 7 * DAY;

/// Budgets by role: each role's windows (an hour, a day, a week…), each with the distinct
/// records it allows.
pub type RoleBudgets = BTreeMap<Role, Vec<Budget>>;

/// The annual canvass, declared: between `from` and `to` (UK dates, inclusive) the roles in
/// `budgets` read under these instead of their ordinary budgets.
#[derive(Debug, Clone)]
pub struct Canvass {
    pub from: Date,
    pub to: Date,
    pub budgets: RoleBudgets,
}

/// The policies use cases enforce.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Distinct records (electors and applications) per window, by role. A principal gets,
    /// for each window all its budgeted roles share, the largest of their limits; a role not
    /// listed has no budget of its own.
    pub budgets: RoleBudgets,
    /// A declared canvass, with its own budgets.
    pub canvass: Option<Canvass>,
    /// What to do when a budget runs out (besides refusing the read and alerting).
    pub budget_response: Vec<Response>,
    /// How a day's reads are judged against the reader's own weeks and its peers'.
    pub baseline: Baseline,
    /// What to do when a day is far above both (besides the high alert).
    pub baseline_response: Vec<Response>,
    /// When a reader is covering a polling district.
    pub coverage: DistrictCoverage,
    /// What to do then (besides the high alert).
    pub coverage_response: Vec<Response>,
    /// Password steps per account name, from anywhere: bounds guessing of one account's
    /// password and (since each code needs a fresh password step) its TOTP codes, however
    /// many addresses an attacker has.
    pub account_login: LoginRate,
    /// The windows of a register supply's steps.
    pub supplies: crate::SupplyPolicy,
}

/// Registration staff in ordinary weeks: 600 an hour (a burst of household lookups), 900 a
/// day and 3,000 a week. An officer of a large authority handles some 100 applications and a
/// few hundred household lookups on a heavy day; 900 is twice that, and a week of heavy days
/// stays under 3,000. A stolen session reading at the hourly limit is stopped within its
/// first working day, before 1,000 records; five at once before 5,000.
pub fn ordinary_budgets() -> RoleBudgets {
    let staff = vec![
        Budget { distinct: 600, window_ms: HOUR },
        Budget { distinct: 900, window_ms: DAY },
        Budget { distinct: 3_000, window_ms: WEEK },
    ];
    BTreeMap::from([(Role::RegistrationStaff, staff)])
}

/// Registration staff during a declared canvass: each officer works through thousands of
/// households' responses a day (1,500 an hour, 6,000 a day, 25,000 a week).
pub fn canvass_budgets() -> RoleBudgets {
    let staff = vec![
        Budget { distinct: 1_500, window_ms: HOUR },
        Budget { distinct: 6_000, window_ms: DAY },
        Budget { distinct: 25_000, window_ms: WEEK },
    ];
    BTreeMap::from([(Role::RegistrationStaff, staff)])
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            budgets: ordinary_budgets(),
            canvass: None,
            budget_response: vec![Response::SuspendPrincipal],
            baseline: Baseline::default(),
            baseline_response: vec![Response::SuspendPrincipal],
            coverage: DistrictCoverage::default(),
            coverage_response: vec![Response::SuspendPrincipal],
            account_login: LoginRate { burst: 20.0, per_second: 20.0 / 900.0 },
            supplies: crate::SupplyPolicy::default(),
        }
    }
}

/// `registration-staff=600/1h,900/1d` (windows in whole hours or days where they are).
fn describe_budgets(budgets: &RoleBudgets) -> String {
    let window = |ms: i64| {
        if ms % DAY == 0 {
            format!("{}d", ms / DAY)
        } else if ms % HOUR == 0 {
            format!("{}h", ms / HOUR)
        } else {
            format!("{}s", ms / 1000)
        }
    };
    let roles: Vec<String> = budgets
        .iter()
        .map(|(role, windows)| {
            let w: Vec<String> =
                windows.iter().map(|b| format!("{}/{}", b.distinct, window(b.window_ms))).collect();
            format!("{role}={}", w.join(","))
        })
        .collect();
    roles.join(";")
}

impl Policy {
    /// The budgets and canvass as a server's start-up record states them.
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        let b = self.baseline;
        let mut out = vec![
            ("budgets", describe_budgets(&self.budgets)),
            ("baseline", format!("{}x busy day of {}d, over {}", b.factor, b.trailing_days, b.floor)),
            (
                "district_coverage",
                match self.coverage {
                    c if c == DistrictCoverage::OFF => "off".to_owned(),
                    c => format!(
                        "{}% of a district in {}d, at least {}",
                        c.percent, c.window_days, c.min_electors
                    ),
                },
            ),
        ];
        if let Some(c) = &self.canvass {
            out.push((
                "canvass",
                format!(
                    "{}..{}",
                    rollguard_register::format_date(c.from),
                    rollguard_register::format_date(c.to)
                ),
            ));
            out.push(("canvass_budgets", describe_budgets(&c.budgets)));
        }
        out
    }

    /// The budgets in force on `today`: while a canvass is declared for it, its roles read
    /// under its budgets; every other role keeps its own.
    pub fn budgets_on(&self, today: Date) -> RoleBudgets {
        let mut table = self.budgets.clone();
        if let Some(c) = self.canvass.as_ref().filter(|c| c.from <= today && today <= c.to) {
            table.extend(c.budgets.iter().map(|(r, b)| (*r, b.clone())));
        }
        table
    }

    /// When, after a canvass, the ordinary budgets start counting (milliseconds): the UK
    /// midnight after its last day (the first instant of the first UK date after it, so never
    /// later than any read made on that date). The canvass's reads are still inside the
    /// ordinary day and week windows, and must not count against them, or every officer who
    /// worked the canvass would be refused, and suspended, at their first read after it.
    pub fn counting_from(&self, today: Date) -> Option<i64> {
        let c = self.canvass.as_ref().filter(|c| c.to < today)?;
        Some(crate::clock::uk_midnight_ms(c.to.next_day()?))
    }

    /// How long read charges are kept: the longest window of any budget, ordinary or
    /// canvass, so narrowing a principal's grants never forgets reads another window needs.
    pub fn longest_window_ms(&self) -> i64 {
        let tables = std::iter::once(&self.budgets).chain(self.canvass.as_ref().map(|c| &c.budgets));
        tables.flat_map(|t| t.values().flatten()).map(|b| b.window_ms).max().unwrap_or(0)
    }

    /// The peer group `actor` reads `authority` in, for baselines: its first budgeted role
    /// there, the authority, and whether it is a person or a service. None for the console,
    /// for roles without budgets, and on a day of a canvass that lists the role (the
    /// canvass's budgets bind then, and its days would swell every baseline after it).
    pub fn peer_group(&self, actor: &Actor, authority: &str, today: Date) -> Option<String> {
        let p = actor.principal()?;
        let role = p
            .access
            .grants
            .iter()
            .filter(|g| g.scope.covers(authority) && self.budgets.contains_key(&g.role))
            .map(|g| g.role)
            .min()?;
        let canvassing = self
            .canvass
            .as_ref()
            .is_some_and(|c| c.from <= today && today <= c.to && c.budgets.contains_key(&role));
        (!canvassing).then(|| format!("{}@{authority}/{}", role.code(), p.kind.code()))
    }

    /// An actor's budgets on `today`, shortest window first: for each window every one of
    /// its budgeted roles has, the largest limit among them (a window one role lacks does not
    /// bind a principal that also holds it). The console has none: its operator holds the
    /// keyring.
    pub fn budgets_for(&self, actor: &Actor, today: Date) -> Vec<Budget> {
        let Some(p) = actor.principal() else { return Vec::new() };
        let table = self.budgets_on(today);
        let sets: Vec<&Vec<Budget>> = p.access.grants.iter().filter_map(|g| table.get(&g.role)).collect();
        let Some(first) = sets.first() else { return Vec::new() };
        let mut out: Vec<Budget> = first
            .iter()
            .filter_map(|b| {
                let limits: Option<Vec<u64>> = sets
                    .iter()
                    .map(|set| set.iter().find(|x| x.window_ms == b.window_ms).map(|x| x.distinct))
                    .collect();
                limits
                    .and_then(|l| l.into_iter().max())
                    .map(|distinct| Budget { distinct, window_ms: b.window_ms })
            })
            .collect();
        out.sort_by_key(|b| b.window_ms);
        out.dedup_by_key(|b| b.window_ms);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollguard_access::{Access, AuthMethod, Grant, Principal, Scope};

    fn staff_with(roles: &[Role]) -> Actor {
        let grants = roles.iter().map(|&role| Grant { role, scope: Scope::All }).collect();
        Actor::Principal(Principal {
            id: 1,
            name: "officer".into(),
            kind: rollguard_store::PrincipalKind::Human,
            method: AuthMethod::Session,
            access: Access { grants, token_scope: None },
            client: None,
            second_factor_at: Some(0),
        })
    }

    #[test]
    fn the_start_up_record_states_every_window_and_the_canvass() {
        let mut p = Policy::default();
        assert_eq!(
            p.describe(),
            [
                ("budgets", "registration-staff=600/1h,900/1d,3000/7d".to_owned()),
                ("baseline", "2x busy day of 28d, over 150".to_owned()),
                ("district_coverage", "40% of a district in 28d, at least 100".to_owned())
            ]
        );
        let day = rollguard_register::parse_date("d", "2026-07-01").unwrap();
        p.canvass = Some(Canvass { from: day, to: day, budgets: canvass_budgets() });
        assert_eq!(p.describe()[3], ("canvass", "2026-07-01..2026-07-01".to_owned()));
    }

    #[test]
    fn after_a_summer_canvass_the_ordinary_budgets_count_from_uk_midnight() {
        let day = |s: &str| rollguard_register::parse_date("d", s).unwrap();
        let canvass = Canvass { from: day("2026-07-01"), to: day("2026-07-10"), budgets: canvass_budgets() };
        let p = Policy { canvass: Some(canvass), ..Policy::default() };
        assert_eq!(p.counting_from(day("2026-07-10")), None, "not while it lasts");
        // 00:00 BST on 11 July is 23:00 UTC on 10 July: reads from then on count.
        let midnight = "2026-07-10T23:00:00Z".parse::<jiff::Timestamp>().unwrap().as_millisecond();
        assert_eq!(p.counting_from(day("2026-07-11")), Some(midnight));
    }

    #[test]
    fn a_principal_gets_the_largest_limit_of_each_window_its_budgeted_roles_share() {
        let mut p = Policy::default();
        p.budgets.insert(Role::SuppliesOfficer, vec![Budget { distinct: 5_000, window_ms: HOUR }]);
        let today = rollguard_register::parse_date("d", "2026-03-02").unwrap();
        let both = p.budgets_for(&staff_with(&[Role::RegistrationStaff, Role::SuppliesOfficer]), today);
        // The day and the week bind only registration staff; the hour is the larger.
        assert_eq!(both, [Budget { distinct: 5_000, window_ms: HOUR }]);
        let staff = p.budgets_for(&staff_with(&[Role::RegistrationStaff, Role::SecurityAnalyst]), today);
        assert_eq!(staff.len(), 3, "a role without budgets does not loosen them");
        assert!(p.budgets_for(&staff_with(&[Role::SecurityAnalyst]), today).is_empty());
        assert!(p.budgets_for(&Actor::Console { user: "op".into() }, today).is_empty());
    }
}

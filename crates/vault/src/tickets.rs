//! Supply tickets: a register supply asked for by one principal, decided by another, and
//! collected once. They live in the sealed registry beside the supplies they become, so a
//! copy of the database tells no one who is about to receive a register.

use serde::{Deserialize, Serialize};

/// A request for a register supply and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupplyTicket {
    pub id: String,
    pub authority: String,
    /// `full` or `open`.
    pub kind: String,
    pub recipient: String,
    /// Why the recipient is entitled (the approver reads it).
    pub purpose: String,
    pub requested_by: String,
    /// Unix seconds.
    pub requested_at: i64,
    pub decision: Option<Decision>,
    pub collected: Option<Collection>,
}

/// An approver's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub by: String,
    pub at: i64,
    pub approved: bool,
    pub note: String,
    /// An approved supply must be collected before this (Unix seconds).
    pub collect_by: i64,
}

/// The one download of an approved supply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Collection {
    pub at: i64,
    /// The supply (in the registry's supplies) it became.
    pub supply: String,
}

/// Where a ticket stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketState {
    /// Waiting for a second person.
    Requested,
    /// May be collected, once, until its `collect_by`.
    Approved,
    Refused,
    Collected,
    /// Not decided within the request's lifetime, or not collected in time.
    Expired,
}

impl TicketState {
    pub fn as_str(self) -> &'static str {
        match self {
            TicketState::Requested => "requested",
            TicketState::Approved => "approved",
            TicketState::Refused => "refused",
            TicketState::Collected => "collected",
            TicketState::Expired => "expired",
        }
    }
}

impl SupplyTicket {
    /// The state at `now` (Unix seconds); an undecided request lapses `request_ttl` seconds
    /// after it was made.
    pub fn state(&self, now: i64, request_ttl: i64) -> TicketState {
        match (&self.decision, &self.collected) {
            (_, Some(_)) => TicketState::Collected,
            (None, None) if now >= self.requested_at + request_ttl => TicketState::Expired,
            (None, None) => TicketState::Requested,
            (Some(d), None) if !d.approved => TicketState::Refused,
            (Some(d), None) if now >= d.collect_by => TicketState::Expired,
            (Some(_), None) => TicketState::Approved,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket() -> SupplyTicket {
        SupplyTicket {
            id: "t".into(),
            authority: "E1".into(),
            kind: "full".into(),
            recipient: "Party A".into(),
            purpose: String::new(),
            requested_by: "officer".into(),
            requested_at: 1_000,
            decision: None,
            collected: None,
        }
    }

    #[test]
    fn an_undecided_request_lapses_after_its_lifetime() {
        let t = ticket();
        assert_eq!(t.state(1_000, 100), TicketState::Requested);
        assert_eq!(t.state(1_099, 100), TicketState::Requested);
        assert_eq!(t.state(1_100, 100), TicketState::Expired);
    }

    #[test]
    fn an_approval_lasts_until_its_collection_deadline_and_a_collection_ends_it() {
        let mut t = ticket();
        t.decision = Some(Decision {
            by: "approver".into(),
            at: 1_050,
            approved: true,
            note: String::new(),
            collect_by: 1_200,
        });
        // An approval outlives the request's own lifetime.
        assert_eq!(t.state(1_150, 100), TicketState::Approved);
        assert_eq!(t.state(1_200, 100), TicketState::Expired);
        t.collected = Some(Collection { at: 1_199, supply: "s".into() });
        assert_eq!(t.state(5_000, 100), TicketState::Collected);
    }

    #[test]
    fn a_refusal_is_final() {
        let mut t = ticket();
        t.decision = Some(Decision {
            by: "approver".into(),
            at: 1_050,
            approved: false,
            note: "no".into(),
            collect_by: 0,
        });
        assert_eq!(t.state(1_060, 100), TicketState::Refused);
        assert_eq!(t.state(9_999, 100), TicketState::Refused);
    }
}

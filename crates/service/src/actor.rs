//! Who is acting: an authenticated principal (over HTTP), or the operator at the console,
//! who holds the database and the keyring and so may do anything, on the record.

use rollguard_access::{AuthMethod, Permission, Principal, Reach};
use rollguard_audit::{Event, Kind, Outcome};

#[derive(Debug, Clone)]
pub enum Actor {
    Principal(Principal),
    /// The operating-system user at the console (`console:$USER` in the audit log).
    Console {
        user: String,
    },
}

impl Actor {
    /// The operator running this console command.
    pub fn console() -> Self {
        Actor::Console { user: std::env::var("USER").unwrap_or_else(|_| "unknown".into()) }
    }

    /// The name audit events carry.
    pub fn name(&self) -> String {
        match self {
            Actor::Principal(p) => p.name.clone(),
            Actor::Console { user } => format!("console:{user}"),
        }
    }

    pub fn principal(&self) -> Option<&Principal> {
        match self {
            Actor::Principal(p) => Some(p),
            Actor::Console { .. } => None,
        }
    }

    pub fn allows(&self, permission: Permission, authority: &str) -> bool {
        match self {
            Actor::Principal(p) => p.access.allows(permission, authority),
            Actor::Console { .. } => true,
        }
    }

    pub fn allows_anywhere(&self, permission: Permission) -> bool {
        match self {
            Actor::Principal(p) => p.access.allows_anywhere(permission),
            Actor::Console { .. } => true,
        }
    }

    /// Whether `permission` is held for every authority (the console's operator holds all).
    pub fn allows_everywhere(&self, permission: Permission) -> bool {
        match self {
            Actor::Principal(p) => p.access.allows_everywhere(permission),
            Actor::Console { .. } => true,
        }
    }

    /// The authorities `permission` reaches for this actor.
    pub fn reach(&self, permission: Permission) -> Reach {
        match self {
            Actor::Principal(p) => p.access.reach(permission),
            Actor::Console { .. } => Reach::Everywhere,
        }
    }

    /// Whether this actor is the principal named `name` (the console is nobody's account).
    pub fn is_named(&self, name: &str) -> bool {
        matches!(self, Actor::Principal(p) if p.name == name.trim())
    }

    /// Whether the actor proved a second factor in this session (a console operator holds
    /// the keyring instead).
    pub fn in_mfa_session(&self) -> bool {
        match self {
            Actor::Principal(p) => p.method == AuthMethod::Session,
            Actor::Console { .. } => true,
        }
    }

    /// An event by this actor at `time_ms`: its name, client address and API token.
    pub fn event(&self, time_ms: i64, kind: Kind, outcome: Outcome) -> Event {
        let mut e = Event::new(time_ms, kind, outcome).principal(self.name());
        if let Actor::Principal(p) = self {
            e.client = p.client.clone();
            if let AuthMethod::ApiToken { id } = p.method {
                e.detail.insert("token".into(), id.to_string());
            }
        }
        e
    }
}

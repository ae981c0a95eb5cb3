//! Roles, the permissions each carries, and grants scoped to local authorities.
//! Least privilege: no role reads personal data unless it needs to, and the administrator
//! role carries none.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    ElectorRead,
    ElectorWrite,
    ApplicationRead,
    ApplicationWrite,
    RegisterExport,
    AuditRead,
    AlertRead,
    UserAdmin,
    TokenAdmin,
    KeyAdmin,
    SupplyCollect,
    /// Approves (or refuses) another principal's request for a register supply.
    SupplyApprove,
}

impl Permission {
    pub const ALL: [Permission; 12] = [
        Permission::ElectorRead,
        Permission::ElectorWrite,
        Permission::ApplicationRead,
        Permission::ApplicationWrite,
        Permission::RegisterExport,
        Permission::AuditRead,
        Permission::AlertRead,
        Permission::UserAdmin,
        Permission::TokenAdmin,
        Permission::KeyAdmin,
        Permission::SupplyCollect,
        Permission::SupplyApprove,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Permission::ElectorRead => "elector:read",
            Permission::ElectorWrite => "elector:write",
            Permission::ApplicationRead => "application:read",
            Permission::ApplicationWrite => "application:write",
            Permission::RegisterExport => "register:export",
            Permission::AuditRead => "audit:read",
            Permission::AlertRead => "alert:read",
            Permission::UserAdmin => "user:admin",
            Permission::TokenAdmin => "token:admin",
            Permission::KeyAdmin => "key:admin",
            Permission::SupplyCollect => "supply:collect",
            Permission::SupplyApprove => "supply:approve",
        }
    }

    /// Whether the permission reaches personal data.
    pub fn is_personal(self) -> bool {
        matches!(
            self,
            Permission::ElectorRead
                | Permission::ElectorWrite
                | Permission::ApplicationRead
                | Permission::ApplicationWrite
                | Permission::RegisterExport
                | Permission::SupplyCollect
        )
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Permission {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Permission::ALL
            .into_iter()
            .find(|p| p.code() == s.trim())
            .ok_or_else(|| format!("unknown permission `{s}`"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Reads and writes electors and applications.
    RegistrationStaff,
    /// Produces register exports.
    SuppliesOfficer,
    /// Audit and alerts; never bulk personal data.
    SecurityAnalyst,
    /// Users, tokens and keys; no personal data unless also granted a role that has it.
    Administrator,
    /// Collects its own supplies.
    Recipient,
    /// The second person on a register supply: approves or refuses another's request, and
    /// reads no personal data. Holding it beside an administrator's grant for the same
    /// authority approves nothing.
    SuppliesApprover,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::RegistrationStaff,
        Role::SuppliesOfficer,
        Role::SecurityAnalyst,
        Role::Administrator,
        Role::Recipient,
        Role::SuppliesApprover,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Role::RegistrationStaff => "registration-staff",
            Role::SuppliesOfficer => "supplies-officer",
            Role::SecurityAnalyst => "security-analyst",
            Role::Administrator => "administrator",
            Role::Recipient => "recipient",
            Role::SuppliesApprover => "supplies-approver",
        }
    }

    pub fn permissions(self) -> &'static [Permission] {
        use Permission::*;
        match self {
            Role::RegistrationStaff => &[ElectorRead, ElectorWrite, ApplicationRead, ApplicationWrite],
            Role::SuppliesOfficer => &[RegisterExport],
            Role::SecurityAnalyst => &[AuditRead, AlertRead],
            // Not the supplies approver: an administrator can mint a service account's token
            // and reset a person's login, so would stand on both sides of a supply.
            Role::Administrator => &[UserAdmin, TokenAdmin, KeyAdmin],
            Role::Recipient => &[SupplyCollect],
            Role::SuppliesApprover => &[SupplyApprove],
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Role::ALL.into_iter().find(|r| r.code() == s.trim()).ok_or_else(|| {
            let known: Vec<&str> = Role::ALL.iter().map(|r| r.code()).collect();
            format!("unknown role `{s}` (one of {})", known.join(", "))
        })
    }
}

/// Where a grant applies: one authority, or every authority.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    All,
    Authority(String),
}

impl Scope {
    pub fn parse(s: &str) -> Self {
        match s.trim() {
            "*" => Scope::All,
            code => Scope::Authority(code.to_ascii_uppercase()),
        }
    }

    /// `*`, or an authority code exactly (1 to 12 letters or digits, any case).
    pub fn parse_code(s: &str) -> std::result::Result<Self, String> {
        match s {
            "*" => Ok(Scope::All),
            code if !code.is_empty()
                && code.len() <= 12
                && code.bytes().all(|b| b.is_ascii_alphanumeric()) =>
            {
                Ok(Scope::Authority(code.to_ascii_uppercase()))
            }
            _ => Err(format!("`{s}`: an authority code (1 to 12 letters or digits) or *")),
        }
    }

    pub fn code(&self) -> &str {
        match self {
            Scope::All => "*",
            Scope::Authority(a) => a,
        }
    }

    pub fn covers(&self, authority: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Authority(a) => a.eq_ignore_ascii_case(authority),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Grant {
    pub role: Role,
    pub scope: Scope,
}

/// What an authenticated principal may do: its grants, narrowed by an API token's scope
/// when it came in with one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub grants: Vec<Grant>,
    /// For API tokens: the permissions and authorities the token was limited to.
    pub token_scope: Option<(Vec<Permission>, Vec<Scope>)>,
}

impl Access {
    pub fn allows(&self, permission: Permission, authority: &str) -> bool {
        let granted = self
            .grants
            .iter()
            .any(|g| g.role.permissions().contains(&permission) && g.scope.covers(authority));
        granted
            && match &self.token_scope {
                None => true,
                Some((perms, scopes)) => {
                    perms.contains(&permission) && scopes.iter().any(|s| s.covers(authority))
                }
            }
    }

    /// Whether the permission is held anywhere (for endpoints not tied to one authority).
    pub fn allows_anywhere(&self, permission: Permission) -> bool {
        let granted = self.grants.iter().any(|g| g.role.permissions().contains(&permission));
        granted && self.token_scope.as_ref().is_none_or(|(perms, _)| perms.contains(&permission))
    }

    /// Whether the permission is held for every authority, present and future: a grant of
    /// `*`, and (for a token) `*` among its authorities too.
    pub fn allows_everywhere(&self, permission: Permission) -> bool {
        let granted =
            self.grants.iter().any(|g| g.role.permissions().contains(&permission) && g.scope == Scope::All);
        granted
            && self
                .token_scope
                .as_ref()
                .is_none_or(|(perms, scopes)| perms.contains(&permission) && scopes.contains(&Scope::All))
    }

    /// Where the permission is held, narrowed by a token's scope.
    pub fn reach(&self, permission: Permission) -> Reach {
        if self.allows_everywhere(permission) {
            return Reach::Everywhere;
        }
        if !self.allows_anywhere(permission) {
            return Reach::Only(Vec::new());
        }
        let mut codes: Vec<String> = self
            .grants
            .iter()
            .filter(|g| g.role.permissions().contains(&permission))
            .flat_map(|g| match (&g.scope, &self.token_scope) {
                (Scope::Authority(a), _) => vec![a.clone()],
                // A grant of `*` narrowed by a token to named authorities.
                (Scope::All, Some((_, scopes))) => scopes.iter().map(|s| s.code().to_owned()).collect(),
                (Scope::All, None) => Vec::new(),
            })
            .filter(|code| self.allows(permission, code))
            .collect();
        codes.sort();
        codes.dedup();
        Reach::Only(codes)
    }
}

/// The authorities a permission reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    Everywhere,
    /// Upper-case authority codes, sorted; empty when the permission is not held.
    Only(Vec<String>),
}

impl Reach {
    pub fn covers(&self, authority: &str) -> bool {
        match self {
            Reach::Everywhere => true,
            Reach::Only(codes) => codes.iter().any(|c| c.eq_ignore_ascii_case(authority)),
        }
    }

    /// Whether it covers `scope`: `*` only when it reaches everywhere.
    pub fn covers_scope(&self, scope: &Scope) -> bool {
        match scope {
            Scope::All => *self == Reach::Everywhere,
            Scope::Authority(a) => self.covers(a),
        }
    }

    /// Whether it covers every one of `authorities` (grant codes, `*` included).
    pub fn covers_all<'a>(&self, mut authorities: impl Iterator<Item = &'a str>) -> bool {
        authorities.all(|a| self.covers_scope(&Scope::parse(a)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(grants: &[(Role, &str)]) -> Access {
        Access {
            grants: grants.iter().map(|(r, s)| Grant { role: *r, scope: Scope::parse(s) }).collect(),
            token_scope: None,
        }
    }

    #[test]
    fn staff_of_one_authority_reach_only_that_authority() {
        let a = access(&[(Role::RegistrationStaff, "E07000001")]);
        assert!(a.allows(Permission::ElectorRead, "E07000001"));
        assert!(a.allows(Permission::ElectorRead, "e07000001"));
        assert!(!a.allows(Permission::ElectorRead, "E07000002"));
        assert!(!a.allows(Permission::RegisterExport, "E07000001"));
    }

    #[test]
    fn administrators_and_analysts_hold_no_personal_permission() {
        for role in [Role::Administrator, Role::SecurityAnalyst] {
            assert!(role.permissions().iter().all(|p| !p.is_personal()), "{role}");
        }
        let admin = access(&[(Role::Administrator, "*")]);
        assert!(!admin.allows(Permission::ElectorRead, "E07000001"));
        assert!(admin.allows(Permission::UserAdmin, "E07000001"));
    }

    #[test]
    fn a_token_scope_narrows_but_never_widens() {
        let mut a = access(&[(Role::RegistrationStaff, "*")]);
        a.token_scope =
            Some((vec![Permission::ElectorRead, Permission::RegisterExport], vec![Scope::parse("E1")]));
        assert!(a.allows(Permission::ElectorRead, "E1"));
        assert!(!a.allows(Permission::ElectorRead, "E2"), "outside the token's authorities");
        assert!(!a.allows(Permission::ElectorWrite, "E1"), "outside the token's permissions");
        assert!(!a.allows(Permission::RegisterExport, "E1"), "the principal was never granted it");
    }

    #[test]
    fn a_token_limited_to_one_authority_reaches_only_it_even_for_a_principal_granted_everywhere() {
        let mut a = access(&[(Role::Administrator, "*")]);
        assert!(a.allows_everywhere(Permission::UserAdmin));
        assert_eq!(a.reach(Permission::UserAdmin), Reach::Everywhere);
        a.token_scope = Some((vec![Permission::UserAdmin], vec![Scope::parse("E1")]));
        assert!(!a.allows_everywhere(Permission::UserAdmin));
        assert_eq!(a.reach(Permission::UserAdmin), Reach::Only(vec!["E1".into()]));
        assert!(!a.reach(Permission::UserAdmin).covers_scope(&Scope::All));
        assert!(!a.reach(Permission::UserAdmin).covers("E2"));
    }

    #[test]
    fn grants_for_several_authorities_reach_exactly_those() {
        let a = access(&[
            (Role::Administrator, "e2"),
            (Role::Administrator, "E1"),
            (Role::SecurityAnalyst, "E3"),
        ]);
        let reach = a.reach(Permission::UserAdmin);
        assert_eq!(reach, Reach::Only(vec!["E1".into(), "E2".into()]));
        assert!(reach.covers_all(["E1", "e2"].into_iter()));
        assert!(!reach.covers_all(["E1", "E3"].into_iter()));
        assert!(!reach.covers_all(["*"].into_iter()));
        assert_eq!(a.reach(Permission::KeyAdmin), reach);
        assert_eq!(a.reach(Permission::ElectorRead), Reach::Only(vec![]));
    }

    #[test]
    fn codes_round_trip() {
        for r in Role::ALL {
            assert_eq!(r.code().parse::<Role>(), Ok(r));
        }
        for p in Permission::ALL {
            assert_eq!(p.code().parse::<Permission>(), Ok(p));
        }
        assert!("root".parse::<Role>().unwrap_err().contains("registration-staff"));
    }
}

//! Who is acting: a signed-in user of an enterprise with roles, or an anonymous visitor.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// What a signed-in user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Shares their own files.
    User,
    /// Manages the enterprise's policy and any share of the enterprise.
    Admin,
    /// Reads the audit history.
    Auditor,
    /// Reads statistics.
    Analyst,
}

impl Role {
    /// The role's name as it appears in tokens.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
            Role::Auditor => "auditor",
            Role::Analyst => "analyst",
        }
    }

    /// Parses a role name.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "user" => Some(Role::User),
            "admin" => Some(Role::Admin),
            "auditor" => Some(Role::Auditor),
            "analyst" => Some(Role::Analyst),
            _ => None,
        }
    }
}

/// A signed-in user acting on the service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub user_id: String,
    pub enterprise_id: String,
    pub display_name: String,
    pub roles: BTreeSet<Role>,
}

impl Actor {
    /// Whether the actor holds this role.
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Users and admins own drive items and shares; auditors and analysts only read.
    pub fn can_share(&self) -> bool {
        self.has(Role::User) || self.has(Role::Admin)
    }

    /// Whether the actor administers this enterprise.
    pub fn is_admin_of(&self, enterprise_id: &str) -> bool {
        self.has(Role::Admin) && self.enterprise_id == enterprise_id
    }

    /// Whether the actor may manage something owned by `owner_id` of `enterprise_id`.
    pub fn manages(&self, owner_id: &str, enterprise_id: &str) -> bool {
        (self.user_id == owner_id && self.enterprise_id == enterprise_id) || self.is_admin_of(enterprise_id)
    }
}

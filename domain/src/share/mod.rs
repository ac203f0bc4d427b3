//! Share (`share-<id>`): the whole life of one link — created, changed, cancelled.

mod access;
mod errors;
mod events;
mod owner;
mod recipient;
#[cfg(test)]
mod recipient_tests;
mod settings;
mod state;
#[cfg(test)]
mod tests;

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

pub use access::{AccessShare, CodeCheck, ItemAccess, OpenShare, Operation, RefusalReason, Visitor};
pub use errors::ShareError;
pub use events::{ShareCreated, ShareEvent};
pub use recipient::{apk_rule_start, is_app_package};
pub use settings::{
    CODE_MAX_LEN, CODE_MIN_LEN, CodeInput, ItemFacts, Limits, MAX_ITEMS, MAX_LIMIT, MAX_MESSAGE_CHARS, MAX_NAME_CHARS,
    Permissions, Scope, SharedItem, validate_access_code,
};
pub use state::{Counters, QR_VALIDITY_DAYS, QrCode, Share as ShareView, ShareState};

use crate::actor::Actor;
use crate::aggregate::Aggregate;
use crate::policy::PolicyState;

/// Create a new link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateShare {
    pub share_id: Uuid,
    pub items: Vec<Uuid>,
    /// Default: the first item's name.
    pub name: Option<String>,
    pub message: Option<String>,
    pub permissions: Permissions,
    pub scope: Scope,
    /// `None`: permanent.
    pub expires_at: Option<DateTime<Utc>>,
    pub access_code: Option<CodeInput>,
    pub autofill_code: bool,
    pub limits: Limits,
}

/// A change of a code: set a new one or remove it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeChange {
    Set(CodeInput),
    Remove,
}

/// Change settings: only the given fields change, and only real changes are recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeShare {
    pub name: Option<String>,
    pub message: Option<String>,
    pub permissions: Option<Permissions>,
    pub scope: Option<Scope>,
    /// `Some(None)`: make permanent.
    pub expires_at: Option<Option<DateTime<Utc>>>,
    pub access_code: Option<CodeChange>,
    pub autofill_code: Option<bool>,
    pub limits: Option<Limits>,
}

/// A recipient's report of abuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub reason: String,
}

/// What can be asked of a share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShareCommand {
    Create(CreateShare),
    Change(ChangeShare),
    Cancel {
        reason: Option<String>,
    },
    IssueQrCode {
        qr_id: Uuid,
    },
    /// A recipient opens the link.
    Open(OpenShare),
    /// A recipient's operation in a session.
    Access(AccessShare),
    /// Records a refusal decided by a transactional check (the daily access quota).
    Refuse {
        operation: Operation,
        reason: RefusalReason,
    },
    Report(Report),
}

/// Facts for a share decision, supplied by the caller.
#[derive(Debug, Clone)]
pub struct ShareContext {
    pub now: DateTime<Utc>,
    /// The signed-in caller (`None` for an anonymous recipient).
    pub actor: Option<Actor>,
    /// The policy of the share's enterprise (the actor's, for a create).
    pub policy: PolicyState,
    /// The named items, for a create.
    pub items: Vec<ItemFacts>,
    /// Today in the enterprise's time zone.
    pub today: NaiveDate,
}

/// The Share aggregate.
pub struct Share;

impl Aggregate for Share {
    const STREAM_PREFIX: &'static str = "share";
    const STATE_SCHEMA: i32 = 1;
    type State = ShareState;
    type Command = ShareCommand;
    type Event = ShareEvent;
    type Context = ShareContext;
    type Error = ShareError;

    fn decide(state: &ShareState, command: &ShareCommand, ctx: &ShareContext) -> Result<Vec<ShareEvent>, ShareError> {
        match command {
            ShareCommand::Create(create) => owner::create(state, create, ctx),
            ShareCommand::Change(change) => owner::change(state, change, ctx),
            ShareCommand::Cancel { reason } => owner::cancel(state, reason.clone(), ctx),
            ShareCommand::IssueQrCode { qr_id } => owner::issue_qr(state, *qr_id, ctx),
            ShareCommand::Open(open) => recipient::open(state, open, ctx),
            ShareCommand::Access(access) => recipient::access(state, access, ctx),
            ShareCommand::Refuse { operation, reason } => recipient::refuse(state, *operation, *reason),
            ShareCommand::Report(report) => recipient::report(state, report),
        }
    }

    fn evolve(state: ShareState, event: &ShareEvent) -> ShareState {
        state::evolve(state, event)
    }
}

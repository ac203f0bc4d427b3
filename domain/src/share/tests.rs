//! Given/when/then for every owner-side rule of a share.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use uuid::Uuid;

use super::*;
use crate::actor::Role;
use crate::drive::ItemKind;
use crate::testing::given;

fn now() -> DateTime<Utc> {
    "2026-11-27T10:00:00Z".parse().unwrap()
}

fn actor(user: &str, roles: &[Role]) -> Actor {
    Actor {
        user_id: user.into(),
        enterprise_id: "acme".into(),
        display_name: format!("{user} (display)"),
        roles: roles.iter().copied().collect::<BTreeSet<_>>(),
    }
}

fn file(n: u8) -> ItemFacts {
    ItemFacts {
        id: Uuid::from_u128(u128::from(n)),
        name: format!("file-{n}.pdf"),
        kind: ItemKind::File,
        owner_id: "alice".into(),
        deleted: false,
    }
}

fn folder(n: u8) -> ItemFacts {
    ItemFacts {
        kind: ItemKind::Folder,
        name: format!("folder-{n}"),
        ..file(n)
    }
}

fn ctx_with(items: Vec<ItemFacts>) -> ShareContext {
    ShareContext {
        now: now(),
        actor: Some(actor("alice", &[Role::User])),
        policy: PolicyState::default(),
        items,
        today: NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(),
    }
}

fn ctx() -> ShareContext {
    ctx_with(vec![file(1), file(2), folder(3)])
}

fn share_id() -> Uuid {
    Uuid::from_u128(0xabc)
}

fn create(items: &[u8]) -> CreateShare {
    CreateShare {
        share_id: share_id(),
        items: items.iter().map(|n| Uuid::from_u128(u128::from(*n))).collect(),
        name: None,
        message: None,
        permissions: Permissions::view_and_download(),
        scope: Scope::Anyone,
        expires_at: None,
        access_code: None,
        autofill_code: false,
        limits: Limits::default(),
    }
}

fn created(items: &[u8]) -> ShareEvent {
    let cmd = create(items);
    Share::decide(&ShareState::default(), &ShareCommand::Create(cmd), &ctx())
        .unwrap()
        .remove(0)
}

fn refused(cmd: CreateShare, ctx: &ShareContext, expected: ShareError) {
    given::<Share>([])
        .when(ShareCommand::Create(cmd), ctx)
        .then_err(|e| *e == expected);
}

#[test]
fn creating_a_share_records_every_setting_and_defaults_the_name_to_the_first_item() {
    let mut cmd = create(&[2, 1]);
    cmd.expires_at = Some(now() + Duration::days(7));
    cmd.access_code = Some(CodeInput {
        code: "s3cr3t!".into(),
        generated: false,
    });
    cmd.autofill_code = true;
    cmd.limits.download = Some(10);
    let state = given::<Share>([])
        .when(ShareCommand::Create(cmd), &ctx())
        .then([ShareEvent::ShareCreated(Box::new(ShareCreated {
            share_id: share_id(),
            owner_id: "alice".into(),
            owner_name: "alice (display)".into(),
            enterprise_id: "acme".into(),
            items: vec![
                SharedItem {
                    id: Uuid::from_u128(2),
                    name: "file-2.pdf".into(),
                    kind: ItemKind::File,
                },
                SharedItem {
                    id: Uuid::from_u128(1),
                    name: "file-1.pdf".into(),
                    kind: ItemKind::File,
                },
            ],
            name: "file-2.pdf".into(),
            message: String::new(),
            permissions: Permissions::view_and_download(),
            scope: Scope::Anyone,
            expires_at: Some(now() + Duration::days(7)),
            has_code: true,
            code_version: 1,
            code_generated: false,
            autofill_code: true,
            limits: Limits {
                download: Some(10),
                ..Limits::default()
            },
            created_at: now(),
            quota_day: NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(),
        }))]);
    let share = state.share.unwrap();
    assert!(share.has_code && !share.cancelled);
}

#[test]
fn no_event_ever_carries_the_access_code() {
    let mut cmd = create(&[1]);
    cmd.access_code = Some(CodeInput {
        code: "pa55word-XYZ".into(),
        generated: false,
    });
    let events = Share::decide(&ShareState::default(), &ShareCommand::Create(cmd), &ctx()).unwrap();
    let change = ShareCommand::Change(ChangeShare {
        access_code: Some(CodeChange::Set(CodeInput {
            code: "another-Secret".into(),
            generated: false,
        })),
        ..ChangeShare::default()
    });
    let state = Share::replay(events.iter());
    let more = Share::decide(&state, &change, &ctx()).unwrap();
    for e in events.iter().chain(more.iter()) {
        let json = crate::DomainEvent::to_payload(e).to_string();
        assert!(!json.contains("pa55word") && !json.contains("another-Secret"), "{json}");
    }
}

#[test]
fn a_share_needs_one_to_a_hundred_distinct_items_of_the_owners_drive() {
    refused(create(&[]), &ctx(), ShareError::NoItems);
    refused(create(&[1, 1]), &ctx(), ShareError::DuplicateItems);
    let many: Vec<ItemFacts> = (0..=100).map(file).collect();
    let mut cmd = create(&[]);
    cmd.items = many.iter().map(|f| f.id).collect();
    refused(cmd.clone(), &ctx_with(many.clone()), ShareError::TooManyItems);
    cmd.items.pop();
    let hundred = given::<Share>([])
        .when(ShareCommand::Create(cmd), &ctx_with(many))
        .outcome();
    assert!(hundred.is_ok(), "exactly 100 items are accepted: {hundred:?}");
}

#[test]
fn someone_elses_missing_or_deleted_item_cannot_be_shared() {
    let mut bobs = file(9);
    bobs.owner_id = "bob".into();
    let mut gone = file(8);
    gone.deleted = true;
    let c = ctx_with(vec![file(1), bobs, gone]);
    refused(create(&[9]), &c, ShareError::ItemNotFound(Uuid::from_u128(9)));
    refused(create(&[7]), &c, ShareError::ItemNotFound(Uuid::from_u128(7)));
    refused(create(&[8]), &c, ShareError::ItemDeleted(Uuid::from_u128(8)));
}

#[test]
fn names_messages_codes_limits_and_expiry_are_validated() {
    let mut long_name = create(&[1]);
    long_name.name = Some("x".repeat(129));
    refused(long_name, &ctx(), ShareError::NameTooLong);
    let mut ok_name = create(&[1]);
    ok_name.name = Some("名".repeat(128));
    assert!(Share::decide(&ShareState::default(), &ShareCommand::Create(ok_name), &ctx()).is_ok());
    let mut blank = create(&[1]);
    blank.name = Some("  ".into());
    refused(blank, &ctx(), ShareError::NameInvalid);
    let mut long_message = create(&[1]);
    long_message.message = Some("m".repeat(1025));
    refused(long_message, &ctx(), ShareError::MessageTooLong);
    for bad in ["abc", "ab cd", "pässwort", &"x".repeat(65)] {
        let mut cmd = create(&[1]);
        cmd.access_code = Some(CodeInput {
            code: bad.into(),
            generated: false,
        });
        refused(cmd, &ctx(), ShareError::AccessCodeInvalid);
    }
    let mut zero = create(&[1]);
    zero.limits.total = Some(0);
    refused(zero, &ctx(), ShareError::LimitInvalid);
    let mut past = create(&[1]);
    past.expires_at = Some(now() - Duration::seconds(1));
    refused(past.clone(), &ctx(), ShareError::ExpiryInPast);
    past.expires_at = Some(now());
    refused(past, &ctx(), ShareError::ExpiryInPast);
}

#[test]
fn upload_needs_folders_and_edit_needs_the_enterprise_to_allow_it() {
    let mut upload = create(&[1]);
    upload.permissions.upload = true;
    refused(upload, &ctx(), ShareError::UploadNeedsFolders);
    let mut upload_folder = create(&[3]);
    upload_folder.permissions.upload = true;
    assert!(Share::decide(&ShareState::default(), &ShareCommand::Create(upload_folder), &ctx()).is_ok());
    let mut edit = create(&[1]);
    edit.permissions.edit = true;
    refused(edit.clone(), &ctx(), ShareError::OnlineEditingDisabled);
    let mut allowed = ctx();
    allowed.policy.online_editing = true;
    assert!(Share::decide(&ShareState::default(), &ShareCommand::Create(edit), &allowed).is_ok());
    let mut none = create(&[1]);
    none.permissions = Permissions::default();
    refused(none, &ctx(), ShareError::NoPermissions);
}

#[test]
fn the_policy_decides_which_scopes_may_be_created() {
    let mut no_external = ctx();
    no_external.policy.external_sharing = false;
    refused(create(&[1]), &no_external, ShareError::ExternalSharingDisabled);
    let mut internal = create(&[1]);
    internal.scope = Scope::Enterprise;
    assert!(
        Share::decide(
            &ShareState::default(),
            &ShareCommand::Create(internal.clone()),
            &no_external
        )
        .is_ok()
    );
    let mut no_internal = ctx();
    no_internal.policy.internal_sharing = false;
    refused(internal, &no_internal, ShareError::InternalSharingDisabled);
}

#[test]
fn auditors_and_analysts_cannot_create_shares() {
    for role in [Role::Auditor, Role::Analyst] {
        let mut c = ctx();
        c.actor = Some(actor("alice", &[role]));
        refused(create(&[1]), &c, ShareError::Forbidden);
    }
}

#[test]
fn changes_record_one_event_per_setting_that_really_changed() {
    let change = ChangeShare {
        name: Some("Holiday".into()),
        message: Some(String::new()),
        expires_at: Some(Some(now() + Duration::days(1))),
        limits: Some(Limits {
            total: Some(5),
            ..Limits::default()
        }),
        access_code: Some(CodeChange::Set(CodeInput {
            code: "1234".into(),
            generated: true,
        })),
        autofill_code: Some(true),
        ..ChangeShare::default()
    };
    given::<Share>([created(&[1])])
        .when(ShareCommand::Change(change), &ctx())
        .then([
            ShareEvent::ShareRenamed { name: "Holiday".into() },
            ShareEvent::ShareExpiryChanged {
                expires_at: Some(now() + Duration::days(1)),
            },
            ShareEvent::ShareLimitsChanged {
                limits: Limits {
                    total: Some(5),
                    ..Limits::default()
                },
            },
            ShareEvent::ShareAccessCodeChanged {
                code_version: 1,
                generated: true,
            },
            ShareEvent::ShareAutofillChanged { autofill_code: true },
        ]);
}

#[test]
fn removing_the_code_bumps_its_version_and_switches_auto_fill_off() {
    let state = given::<Share>([
        created(&[1]),
        ShareEvent::ShareAccessCodeChanged {
            code_version: 1,
            generated: false,
        },
        ShareEvent::ShareAutofillChanged { autofill_code: true },
    ])
    .when(
        ShareCommand::Change(ChangeShare {
            access_code: Some(CodeChange::Remove),
            ..ChangeShare::default()
        }),
        &ctx(),
    )
    .then([
        ShareEvent::ShareAccessCodeRemoved { code_version: 2 },
        ShareEvent::ShareAutofillChanged { autofill_code: false },
    ]);
    assert!(!state.share.unwrap().has_code);
}

#[test]
fn only_the_owner_or_an_enterprise_admin_changes_or_cancels() {
    let mut bob = ctx();
    bob.actor = Some(actor("bob", &[Role::User]));
    given::<Share>([created(&[1])])
        .when(ShareCommand::Cancel { reason: None }, &bob)
        .then_err(|e| *e == ShareError::NotFound);
    let mut foreign_admin = ctx();
    let mut eve = actor("eve", &[Role::Admin]);
    eve.enterprise_id = "globex".into();
    foreign_admin.actor = Some(eve);
    given::<Share>([created(&[1])])
        .when(ShareCommand::Cancel { reason: None }, &foreign_admin)
        .then_err(|e| *e == ShareError::NotFound);
    let mut admin = ctx();
    admin.actor = Some(actor("carol", &[Role::Admin]));
    given::<Share>([created(&[1])])
        .when(
            ShareCommand::Cancel {
                reason: Some("policy".into()),
            },
            &admin,
        )
        .then([ShareEvent::ShareCancelled {
            reason: Some("policy".into()),
        }]);
}

#[test]
fn cancel_is_final() {
    let cancelled = ShareEvent::ShareCancelled { reason: None };
    given::<Share>([created(&[1]), cancelled.clone()])
        .when(ShareCommand::Cancel { reason: None }, &ctx())
        .then_err(|e| *e == ShareError::Cancelled);
    given::<Share>([created(&[1]), cancelled])
        .when(
            ShareCommand::Change(ChangeShare {
                name: Some("x".into()),
                ..ChangeShare::default()
            }),
            &ctx(),
        )
        .then_err(|e| *e == ShareError::Cancelled);
}

#[test]
fn a_qr_code_is_valid_for_seven_days_from_issue() {
    let qr = Uuid::from_u128(77);
    let state = given::<Share>([created(&[1])])
        .when(ShareCommand::IssueQrCode { qr_id: qr }, &ctx())
        .then([ShareEvent::ShareQrCodeIssued {
            qr_id: qr,
            expires_at: now() + Duration::days(7),
        }]);
    assert_eq!(state.share.unwrap().qr_codes.len(), 1);
    let mut expiring = create(&[1]);
    expiring.expires_at = Some(now() + Duration::hours(1));
    let events = Share::decide(&ShareState::default(), &ShareCommand::Create(expiring), &ctx()).unwrap();
    let mut later = ctx();
    later.now = now() + Duration::hours(1);
    given::<Share>(events)
        .when(ShareCommand::IssueQrCode { qr_id: qr }, &later)
        .then_err(|e| *e == ShareError::Expired);
}

#[test]
fn old_qr_codes_are_forgotten_once_past_their_validity() {
    let first = ShareEvent::ShareQrCodeIssued {
        qr_id: Uuid::from_u128(1),
        expires_at: now() + Duration::days(7),
    };
    let much_later = ShareEvent::ShareQrCodeIssued {
        qr_id: Uuid::from_u128(2),
        expires_at: now() + Duration::days(30),
    };
    let state = given::<Share>([created(&[1]), first, much_later]);
    let ids: Vec<Uuid> = state
        .state()
        .share
        .as_ref()
        .unwrap()
        .qr_codes
        .iter()
        .map(|q| q.id)
        .collect();
    assert_eq!(ids, vec![Uuid::from_u128(2)]);
}

#[test]
fn every_share_event_round_trips_through_storage() {
    crate::testing::assert_round_trips(&[
        created(&[1, 3]),
        ShareEvent::ShareRenamed { name: "n".into() },
        ShareEvent::ShareMessageChanged { message: String::new() },
        ShareEvent::SharePermissionsChanged {
            permissions: Permissions::view_and_download(),
        },
        ShareEvent::ShareScopeChanged {
            scope: Scope::Enterprise,
        },
        ShareEvent::ShareExpiryChanged { expires_at: None },
        ShareEvent::ShareExpiryChanged {
            expires_at: Some(now()),
        },
        ShareEvent::ShareLimitsChanged {
            limits: Limits {
                total: Some(1),
                ..Limits::default()
            },
        },
        ShareEvent::ShareAccessCodeChanged {
            code_version: 3,
            generated: true,
        },
        ShareEvent::ShareAccessCodeRemoved { code_version: 4 },
        ShareEvent::ShareAutofillChanged { autofill_code: false },
        ShareEvent::ShareQrCodeIssued {
            qr_id: Uuid::nil(),
            expires_at: now(),
        },
        ShareEvent::ShareCancelled { reason: None },
    ]);
}

//! Given/when/then for every recipient rule: each refusal reason is an event.

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

fn ctx() -> ShareContext {
    ShareContext {
        now: now(),
        actor: None,
        policy: PolicyState::default(),
        items: vec![],
        today: NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(),
    }
}

fn created_with(f: impl FnOnce(&mut ShareCreated)) -> ShareEvent {
    let mut c = ShareCreated {
        share_id: Uuid::from_u128(1),
        owner_id: "alice".into(),
        owner_name: "Alice".into(),
        enterprise_id: "acme".into(),
        items: vec![SharedItem {
            id: Uuid::from_u128(10),
            name: "report.pdf".into(),
            kind: ItemKind::File,
        }],
        name: "report.pdf".into(),
        message: String::new(),
        permissions: Permissions::view_and_download(),
        scope: Scope::Anyone,
        expires_at: None,
        has_code: false,
        code_version: 0,
        code_generated: false,
        autofill_code: false,
        limits: Limits::default(),
        created_at: now() - Duration::days(1),
        quota_day: NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(),
    };
    f(&mut c);
    ShareEvent::ShareCreated(Box::new(c))
}

fn anon() -> Visitor {
    Visitor::Anonymous {
        visitor_id: Uuid::from_u128(99),
    }
}

fn member(enterprise: &str) -> Visitor {
    Visitor::User {
        user_id: "bob".into(),
        enterprise_id: enterprise.into(),
    }
}

fn open_cmd(visitor: Visitor, code: CodeCheck) -> ShareCommand {
    ShareCommand::Open(OpenShare {
        session_id: Uuid::from_u128(5),
        visitor,
        code,
        qr_id: None,
        quota_day: None,
    })
}

fn refusal(operation: Operation, reason: RefusalReason, item: Option<u128>, session: bool) -> ShareEvent {
    ShareEvent::AccessRefused {
        operation,
        reason,
        item_id: item.map(Uuid::from_u128),
        session_id: session.then(|| Uuid::from_u128(5)),
    }
}

fn file(name: &str) -> ItemAccess {
    ItemAccess {
        id: Uuid::from_u128(10),
        name: name.into(),
        in_share: true,
        deleted: false,
        is_file: true,
    }
}

fn access(operation: Operation, item: Option<ItemAccess>) -> AccessShare {
    AccessShare {
        session_id: Uuid::from_u128(5),
        visitor: anon(),
        code_version: 0,
        operation,
        item,
        counted: true,
        bytes: Some(3),
        new_item: Some(Uuid::from_u128(77)),
        new_name: Some("new.txt".into()),
    }
}

fn download() -> ShareCommand {
    ShareCommand::Access(access(Operation::Download, Some(file("report.pdf"))))
}

#[test]
fn opening_a_link_without_a_code_starts_a_session() {
    given::<Share>([created_with(|_| {})])
        .when(open_cmd(anon(), CodeCheck::NotNeeded), &ctx())
        .then([ShareEvent::ShareOpened {
            session_id: Uuid::from_u128(5),
            visitor: anon(),
            qr_id: None,
            quota_day: None,
        }]);
}

#[test]
fn an_unknown_share_is_an_error_not_an_event() {
    given::<Share>([])
        .when(open_cmd(anon(), CodeCheck::NotNeeded), &ctx())
        .then_err(|e| *e == ShareError::NotFound);
}

#[test]
fn cancelled_and_expired_links_refuse_with_their_reason() {
    let opened = |events: Vec<ShareEvent>, c: &ShareContext, reason| {
        given::<Share>(events)
            .when(open_cmd(anon(), CodeCheck::NotNeeded), c)
            .then([refusal(Operation::Open, reason, None, false)]);
    };
    opened(
        vec![created_with(|_| {}), ShareEvent::ShareCancelled { reason: None }],
        &ctx(),
        RefusalReason::Cancelled,
    );
    let expiring = created_with(|c| c.expires_at = Some(now() + Duration::seconds(1)));
    let mut one_second_before = ctx();
    one_second_before.now = now();
    given::<Share>([expiring.clone()])
        .when(open_cmd(anon(), CodeCheck::NotNeeded), &one_second_before)
        .then(vec![ShareEvent::ShareOpened {
            session_id: Uuid::from_u128(5),
            visitor: anon(),
            qr_id: None,
            quota_day: None,
        }]);
    let mut at_expiry = ctx();
    at_expiry.now = now() + Duration::seconds(1);
    opened(vec![expiring], &at_expiry, RefusalReason::Expired);
}

#[test]
fn the_policy_and_the_scope_decide_who_may_open() {
    let mut no_external = ctx();
    no_external.policy.external_sharing = false;
    given::<Share>([created_with(|_| {})])
        .when(open_cmd(anon(), CodeCheck::NotNeeded), &no_external)
        .then([refusal(Operation::Open, RefusalReason::SharingDisabled, None, false)]);
    let internal = created_with(|c| c.scope = Scope::Enterprise);
    given::<Share>([internal.clone()])
        .when(open_cmd(anon(), CodeCheck::NotNeeded), &no_external)
        .then([refusal(Operation::Open, RefusalReason::SignInRequired, None, false)]);
    given::<Share>([internal.clone()])
        .when(open_cmd(member("globex"), CodeCheck::NotNeeded), &ctx())
        .then([refusal(Operation::Open, RefusalReason::NotAMember, None, false)]);
    let state = given::<Share>([internal])
        .when(open_cmd(member("acme"), CodeCheck::NotNeeded), &ctx())
        .outcome();
    assert!(matches!(state.unwrap()[0], ShareEvent::ShareOpened { .. }));
}

#[test]
fn a_code_protected_link_needs_the_code_of_its_current_version() {
    let coded = created_with(|c| {
        c.has_code = true;
        c.code_version = 1;
    });
    for (check, reason) in [
        (CodeCheck::Missing, RefusalReason::CodeMissing),
        (CodeCheck::Wrong, RefusalReason::CodeWrong),
        (CodeCheck::Throttled, RefusalReason::CodeThrottled),
        (CodeCheck::Correct { version: 0 }, RefusalReason::CodeWrong),
    ] {
        given::<Share>([coded.clone()])
            .when(open_cmd(anon(), check), &ctx())
            .then([refusal(Operation::Open, reason, None, false)]);
    }
    let opened = given::<Share>([coded])
        .when(open_cmd(anon(), CodeCheck::Correct { version: 1 }), &ctx())
        .outcome();
    assert!(matches!(opened.unwrap()[0], ShareEvent::ShareOpened { .. }));
}

#[test]
fn a_qr_code_works_for_seven_days_after_issue() {
    let qr = Uuid::from_u128(42);
    let issued = ShareEvent::ShareQrCodeIssued {
        qr_id: qr,
        expires_at: now() + Duration::days(7),
    };
    let with_qr = |at: DateTime<Utc>| {
        let mut c = ctx();
        c.now = at;
        given::<Share>([created_with(|_| {}), issued.clone()])
            .when(
                ShareCommand::Open(OpenShare {
                    session_id: Uuid::from_u128(5),
                    visitor: anon(),
                    code: CodeCheck::NotNeeded,
                    qr_id: Some(qr),
                    quota_day: None,
                }),
                &c,
            )
            .outcome()
            .unwrap()
    };
    assert!(matches!(
        with_qr(now() + Duration::days(7) - Duration::seconds(1))[0],
        ShareEvent::ShareOpened { .. }
    ));
    assert_eq!(
        with_qr(now() + Duration::days(7)),
        vec![refusal(Operation::Open, RefusalReason::QrExpired, None, false)]
    );
}

#[test]
fn a_download_is_recorded_and_counted() {
    let state = given::<Share>([created_with(|_| {})])
        .when(download(), &ctx())
        .then([ShareEvent::FileDownloaded {
            session_id: Uuid::from_u128(5),
            item_id: Uuid::from_u128(10),
            bytes: Some(3),
        }]);
    assert_eq!(state.share.unwrap().counters.downloads, 1);
}

#[test]
fn limits_hold_per_operation_and_in_total() {
    let limited = created_with(|c| c.limits.download = Some(2));
    let done = ShareEvent::FileDownloaded {
        session_id: Uuid::from_u128(5),
        item_id: Uuid::from_u128(10),
        bytes: None,
    };
    let third_byte_count = ShareEvent::FileDownloaded {
        session_id: Uuid::from_u128(5),
        item_id: Uuid::from_u128(10),
        bytes: Some(3),
    };
    given::<Share>([limited.clone(), done.clone()])
        .when(download(), &ctx())
        .then([third_byte_count]);
    given::<Share>([limited, done.clone(), done.clone()])
        .when(download(), &ctx())
        .then([refusal(
            Operation::Download,
            RefusalReason::LimitReached,
            Some(10),
            true,
        )]);
    let total = created_with(|c| c.limits.total = Some(2));
    let previewed = ShareEvent::FilePreviewed {
        session_id: Uuid::from_u128(5),
        item_id: Uuid::from_u128(10),
    };
    given::<Share>([total, previewed, done])
        .when(download(), &ctx())
        .then([refusal(
            Operation::Download,
            RefusalReason::LimitReached,
            Some(10),
            true,
        )]);
}

#[test]
fn the_rest_of_a_counted_download_is_served_without_counting_but_still_checked() {
    let limited = created_with(|c| c.limits.download = Some(1));
    let done = ShareEvent::FileDownloaded {
        session_id: Uuid::from_u128(5),
        item_id: Uuid::from_u128(10),
        bytes: None,
    };
    let mut rest = access(Operation::Download, Some(file("report.pdf")));
    rest.counted = false;
    given::<Share>([limited.clone(), done.clone()])
        .when(ShareCommand::Access(rest.clone()), &ctx())
        .then([]);
    given::<Share>([limited, done, ShareEvent::ShareCancelled { reason: None }])
        .when(ShareCommand::Access(rest), &ctx())
        .then([refusal(Operation::Download, RefusalReason::Cancelled, Some(10), true)]);
}

#[test]
fn permissions_items_and_sessions_are_checked_for_every_operation() {
    let preview_only = created_with(|c| {
        c.permissions = Permissions {
            preview: true,
            ..Permissions::default()
        }
    });
    given::<Share>([preview_only]).when(download(), &ctx()).then([refusal(
        Operation::Download,
        RefusalReason::NoPermission,
        Some(10),
        true,
    )]);
    let mut deleted = file("report.pdf");
    deleted.deleted = true;
    given::<Share>([created_with(|_| {})])
        .when(ShareCommand::Access(access(Operation::Download, Some(deleted))), &ctx())
        .then([refusal(Operation::Download, RefusalReason::ItemDeleted, Some(10), true)]);
    let mut elsewhere = file("report.pdf");
    elsewhere.in_share = false;
    given::<Share>([created_with(|_| {})])
        .when(
            ShareCommand::Access(access(Operation::Preview, Some(elsewhere))),
            &ctx(),
        )
        .then([refusal(
            Operation::Preview,
            RefusalReason::ItemNotShared,
            Some(10),
            true,
        )]);
    // The code changed since the session began: the session is over.
    given::<Share>([
        created_with(|_| {}),
        ShareEvent::ShareAccessCodeChanged {
            code_version: 1,
            generated: false,
        },
    ])
    .when(download(), &ctx())
    .then([refusal(
        Operation::Download,
        RefusalReason::SessionEnded,
        Some(10),
        true,
    )]);
}

#[test]
fn saving_needs_a_signed_in_recipient() {
    let savable = created_with(|c| c.permissions.save = true);
    given::<Share>([savable.clone()])
        .when(
            ShareCommand::Access(access(Operation::Save, Some(file("report.pdf")))),
            &ctx(),
        )
        .then([refusal(Operation::Save, RefusalReason::SignInRequired, Some(10), true)]);
    let mut signed_in = access(Operation::Save, Some(file("report.pdf")));
    signed_in.visitor = member("globex");
    given::<Share>([savable])
        .when(ShareCommand::Access(signed_in), &ctx())
        .then([ShareEvent::FileSaved {
            session_id: Uuid::from_u128(5),
            item_id: Uuid::from_u128(10),
            saved_as: Uuid::from_u128(77),
        }]);
}

#[test]
fn editing_needs_the_permission_and_the_enterprise_switch() {
    let editable = created_with(|c| c.permissions.edit = true);
    let edit = || ShareCommand::Access(access(Operation::Edit, Some(file("notes.txt"))));
    given::<Share>([editable.clone()]).when(edit(), &ctx()).then([refusal(
        Operation::Edit,
        RefusalReason::EditingDisabled,
        Some(10),
        true,
    )]);
    let mut allowed = ctx();
    allowed.policy.online_editing = true;
    given::<Share>([editable])
        .when(edit(), &allowed)
        .then([ShareEvent::DocumentEdited {
            session_id: Uuid::from_u128(5),
            item_id: Uuid::from_u128(10),
            bytes: 3,
        }]);
}

#[test]
fn uploads_go_into_shared_folders_of_upload_links_only() {
    let folder = ItemAccess {
        is_file: false,
        ..file("Inbox")
    };
    let upload_link = created_with(|c| c.permissions.upload = true);
    given::<Share>([upload_link.clone()])
        .when(
            ShareCommand::Access(access(Operation::Upload, Some(folder.clone()))),
            &ctx(),
        )
        .then([ShareEvent::FileUploaded {
            session_id: Uuid::from_u128(5),
            folder_id: Uuid::from_u128(10),
            item_id: Uuid::from_u128(77),
            name: "new.txt".into(),
            bytes: 3,
        }]);
    given::<Share>([created_with(|_| {})])
        .when(ShareCommand::Access(access(Operation::Upload, Some(folder))), &ctx())
        .then([refusal(Operation::Upload, RefusalReason::NoPermission, Some(10), true)]);
}

#[test]
fn app_packages_are_blocked_on_public_links_created_after_the_cut_off_without_a_custom_domain() {
    let apk = || ShareCommand::Access(access(Operation::Download, Some(file("Game.APK"))));
    given::<Share>([created_with(|_| {})])
        .when(apk(), &ctx())
        .then([refusal(
            Operation::Download,
            RefusalReason::FileTypeBlocked,
            Some(10),
            true,
        )]);
    // Enterprise-only links, older links, and custom domains are not affected.
    let mut member_access = access(Operation::Download, Some(file("app.ipa")));
    member_access.visitor = member("acme");
    let ok = |events: Vec<ShareEvent>, cmd: ShareCommand, c: &ShareContext| {
        let out = given::<Share>(events).when(cmd, c).outcome().unwrap();
        assert!(matches!(out[0], ShareEvent::FileDownloaded { .. }), "{out:?}");
    };
    ok(
        vec![created_with(|c| c.scope = Scope::Enterprise)],
        ShareCommand::Access(member_access),
        &ctx(),
    );
    ok(
        vec![created_with(|c| c.created_at = apk_rule_start() - Duration::seconds(1))],
        apk(),
        &ctx(),
    );
    let mut domain = ctx();
    domain.policy.custom_domain = Some("share.acme.example".into());
    ok(vec![created_with(|_| {})], apk(), &domain);
}

#[test]
fn a_report_is_recorded_with_its_reason() {
    given::<Share>([created_with(|_| {})])
        .when(
            ShareCommand::Report(Report {
                reason: " spam ".into(),
            }),
            &ctx(),
        )
        .then([ShareEvent::ShareReported { reason: "spam".into() }]);
    given::<Share>([created_with(|_| {})])
        .when(ShareCommand::Report(Report { reason: "  ".into() }), &ctx())
        .then_err(|e| *e == ShareError::MessageInvalid);
}

#[test]
fn every_recipient_event_round_trips_through_storage() {
    let id = Uuid::from_u128(3);
    crate::testing::assert_round_trips(&[
        ShareEvent::ShareOpened {
            session_id: id,
            visitor: member("acme"),
            qr_id: Some(id),
            quota_day: Some(NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()),
        },
        ShareEvent::ShareOpened {
            session_id: id,
            visitor: anon(),
            qr_id: None,
            quota_day: None,
        },
        ShareEvent::FilePreviewed {
            session_id: id,
            item_id: id,
        },
        ShareEvent::FileDownloaded {
            session_id: id,
            item_id: id,
            bytes: None,
        },
        ShareEvent::FileSaved {
            session_id: id,
            item_id: id,
            saved_as: id,
        },
        ShareEvent::FileUploaded {
            session_id: id,
            folder_id: id,
            item_id: id,
            name: "x".into(),
            bytes: 1,
        },
        ShareEvent::DocumentEdited {
            session_id: id,
            item_id: id,
            bytes: 2,
        },
        refusal(Operation::Save, RefusalReason::QuotaUsed, Some(1), true),
        ShareEvent::ShareReported { reason: "x".into() },
    ]);
    let _ = BTreeSet::<Role>::new();
}

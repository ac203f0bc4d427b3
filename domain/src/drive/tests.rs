use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::*;
use crate::actor::Role;
use crate::testing::given;

fn now() -> DateTime<Utc> {
    "2026-11-27T10:00:00Z".parse().unwrap()
}

fn actor(user: &str, roles: &[Role]) -> Actor {
    Actor {
        user_id: user.into(),
        enterprise_id: "acme".into(),
        display_name: user.into(),
        roles: roles.iter().copied().collect::<BTreeSet<_>>(),
    }
}

fn ctx(user: &str) -> DriveContext {
    DriveContext {
        now: now(),
        actor: actor(user, &[Role::User]),
        parent: None,
        through_share: false,
    }
}

fn content() -> Content {
    Content {
        key: "items/x/1".into(),
        size: 3,
        sha256: "abc".into(),
        content_type: "text/plain".into(),
    }
}

fn folder(id: Uuid, owner: &str) -> DriveEvent {
    DriveEvent::FolderCreated {
        id,
        owner_id: owner.into(),
        enterprise_id: "acme".into(),
        parent: None,
        name: "Photos".into(),
        created_at: now(),
    }
}

#[test]
fn a_user_registers_a_file_in_their_own_folder() {
    let (id, parent) = (Uuid::now_v7(), Uuid::now_v7());
    let mut c = ctx("alice");
    c.parent = Some(ParentFacts {
        id: parent,
        owner_id: "alice".into(),
        kind: ItemKind::Folder,
        deleted: false,
    });
    given::<DriveItem>([])
        .when(
            DriveCommand::RegisterFile {
                id,
                owner_id: "alice".into(),
                enterprise_id: "acme".into(),
                parent: Some(parent),
                name: "report.pdf".into(),
                content: content(),
                via_share: None,
            },
            &c,
        )
        .then([DriveEvent::FileRegistered {
            id,
            owner_id: "alice".into(),
            enterprise_id: "acme".into(),
            parent: Some(parent),
            name: "report.pdf".into(),
            content: content(),
            via_share: None,
            created_at: now(),
        }]);
}

#[test]
fn a_file_cannot_go_into_someone_elses_folder_or_into_a_file() {
    let parent = Uuid::now_v7();
    for (owner, kind, expected) in [
        ("bob", ItemKind::Folder, DriveError::ParentNotFound),
        ("alice", ItemKind::File, DriveError::ParentNotFolder),
    ] {
        let mut c = ctx("alice");
        c.parent = Some(ParentFacts {
            id: parent,
            owner_id: owner.into(),
            kind,
            deleted: false,
        });
        given::<DriveItem>([])
            .when(
                DriveCommand::CreateFolder {
                    id: Uuid::now_v7(),
                    parent: Some(parent),
                    name: "x".into(),
                },
                &c,
            )
            .then_err(|e| *e == expected);
    }
}

#[test]
fn names_with_separators_control_characters_or_dots_are_refused() {
    for bad in ["", "a/b", "..", ".", "a\nb", "a\\b", "   ", &"x".repeat(256)] {
        given::<DriveItem>([])
            .when(
                DriveCommand::CreateFolder {
                    id: Uuid::now_v7(),
                    parent: None,
                    name: bad.into(),
                },
                &ctx("alice"),
            )
            .then_err(|e| *e == DriveError::InvalidName);
    }
    assert!(validate_name("報告 2026 (final).pdf").is_ok());
}

#[test]
fn only_the_owner_or_an_admin_deletes_and_restores() {
    let id = Uuid::now_v7();
    given::<DriveItem>([folder(id, "alice")])
        .when(DriveCommand::Delete, &ctx("bob"))
        .then_err(|e| *e == DriveError::NotFound);
    let mut admin = ctx("carol");
    admin.actor = actor("carol", &[Role::Admin]);
    given::<DriveItem>([folder(id, "alice")])
        .when(DriveCommand::Delete, &admin)
        .then([DriveEvent::ItemDeleted]);
    given::<DriveItem>([folder(id, "alice"), DriveEvent::ItemDeleted])
        .when(DriveCommand::Restore, &ctx("alice"))
        .then([DriveEvent::ItemRestored]);
    given::<DriveItem>([folder(id, "alice")])
        .when(DriveCommand::Restore, &ctx("alice"))
        .then_err(|e| *e == DriveError::NotDeleted);
}

#[test]
fn auditors_cannot_own_drive_items() {
    let mut c = ctx("audrey");
    c.actor = actor("audrey", &[Role::Auditor]);
    given::<DriveItem>([])
        .when(
            DriveCommand::CreateFolder {
                id: Uuid::now_v7(),
                parent: None,
                name: "x".into(),
            },
            &c,
        )
        .then_err(|e| *e == DriveError::Forbidden);
}

#[test]
fn every_drive_event_round_trips_through_storage() {
    let id = Uuid::now_v7();
    crate::testing::assert_round_trips(&[
        folder(id, "alice"),
        DriveEvent::FileRegistered {
            id,
            owner_id: "a".into(),
            enterprise_id: "e".into(),
            parent: Some(id),
            name: "n".into(),
            content: content(),
            via_share: Some(id),
            created_at: now(),
        },
        DriveEvent::ItemRenamed { name: "x".into() },
        DriveEvent::ItemDeleted,
        DriveEvent::ItemRestored,
        DriveEvent::ContentReplaced {
            content: content(),
            via_share: None,
        },
    ]);
}

//! The demo a newcomer clicks through: on an empty log, an enterprise `demo` with two people
//! (Alice, an admin, and Bob), a few drive items and one share; and one-time sign-in links for
//! both, printed at every start of `serve --demo`.

use std::collections::BTreeSet;

use bytes::Bytes;
use chrono::Duration;
use serde_json::Value;
use shareledger_domain::{Actor, Role};

use super::drive::{self, CreateFolderRequest};
use super::shares::{self, dto::CreateShareRequest};
use super::signin::{self, SigninFor};
use crate::http::request::RequestMeta;
use crate::state::AppState;

/// The enterprise of the demo.
pub const ENTERPRISE: &str = "demo";

fn person(id: &str, name: &str, roles: &[Role]) -> (Actor, SigninFor) {
    let actor = Actor {
        user_id: id.to_owned(),
        enterprise_id: ENTERPRISE.to_owned(),
        display_name: name.to_owned(),
        roles: roles.iter().copied().collect::<BTreeSet<_>>(),
    };
    let who = SigninFor {
        user_id: id.to_owned(),
        enterprise_id: ENTERPRISE.to_owned(),
        display_name: Some(name.to_owned()),
        roles: roles.iter().map(|r| r.as_str().to_owned()).collect(),
    };
    (actor, who)
}

fn people() -> [(Actor, SigninFor); 2] {
    [
        person("alice", "Alice Example", &[Role::User, Role::Admin]),
        person("bob", "Bob Example", &[Role::User]),
    ]
}

async fn file(
    state: &AppState,
    actor: &Actor,
    parent: Option<uuid::Uuid>,
    name: &str,
    text: &str,
) -> anyhow::Result<uuid::Uuid> {
    let body = futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from(text.to_owned()))]);
    let content_type = if name.ends_with(".csv") {
        "text/csv"
    } else {
        "text/plain"
    };
    let item = drive::upload(
        state,
        actor,
        &RequestMeta::default(),
        parent,
        name.to_owned(),
        content_type.to_owned(),
        body,
    )
    .await
    .map_err(|e| anyhow::anyhow!("demo upload {name}: {}", e.detail))?;
    Ok(item.id)
}

/// Seeds the demo when the log is empty; says whether it did.
pub async fn seed_if_new(state: &AppState) -> anyhow::Result<bool> {
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(state.pool())
        .await?;
    if events > 0 {
        return Ok(false);
    }
    let [(alice, _), (bob, _)] = people();
    let req = RequestMeta::default();
    file(
        state,
        &alice,
        None,
        "Welcome.txt",
        "Welcome to shareledger!\nSelect files in My Drive and press Share Link.\n",
    )
    .await?;
    let report = file(
        state,
        &alice,
        None,
        "Quarterly report.csv",
        "quarter,revenue,costs\nQ1,120,80\nQ2,135,82\nQ3,150,90\nQ4,170,95\n",
    )
    .await?;
    let folder = drive::create_folder(
        state,
        &alice,
        &req,
        CreateFolderRequest {
            kind: "folder".to_owned(),
            name: "Project Apollo".to_owned(),
            parent: None,
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("demo folder: {}", e.detail))?;
    file(
        state,
        &alice,
        Some(folder.id),
        "plan.md",
        "# Plan\n\n1. Launch\n2. Land\n3. Return\n",
    )
    .await?;
    file(state, &bob, None, "notes.txt", "Bob's notes.\n").await?;
    let share = CreateShareRequest {
        items: vec![report],
        name: Some("Quarterly report".to_owned()),
        message: Some("The numbers for Thursday.".to_owned()),
        permissions: None,
        scope: None,
        expires_at: Some(state.clock().now() + Duration::days(30)),
        access_code: None,
        generate_access_code: true,
        autofill_code: false,
        limits: None,
    };
    let created = shares::create(state, &alice, &req, None, share)
        .await
        .map_err(|e| anyhow::anyhow!("demo share: {}", e.detail))?;
    if let Value::String(link) = &created.body["link"] {
        tracing::info!(%link, "demo share created");
    }
    Ok(true)
}

/// Whether this database holds the demo enterprise (seeded by an earlier start).
pub async fn exists(state: &AppState) -> anyhow::Result<bool> {
    Ok(
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM drive_items WHERE enterprise_id = $1)")
            .bind(ENTERPRISE)
            .fetch_one(state.pool())
            .await?,
    )
}

/// Fresh one-time sign-in links (valid a day) for the demo's people: `(name, url)`.
pub async fn signin_links(state: &AppState) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (actor, who) in people() {
        let code = signin::issue(state.pool(), &who, Duration::days(1), state.clock().now()).await?;
        out.push((
            actor.display_name,
            format!("{}/signin/once/{code}", state.config().public_url),
        ));
    }
    Ok(out)
}

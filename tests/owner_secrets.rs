//! Access codes and link tokens never leave their sealed home: not in events, logs, the list, or
//! the database in plain text.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::json;
use support::TestApp;
use tracing_subscriber::fmt::MakeWriter;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn the_access_code_and_token_appear_nowhere_but_the_owners_details() {
    let logs = Captured::default();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(logs.clone())
        .init();
    let t = TestApp::new().await;
    let alice = t.user("alice");
    let file = t.upload(&alice, "a.txt", b"a", None).await;
    let code = "Zq7-unique-Code";
    let created = t
        .create_share(&alice, &[file], json!({"access_code": code}))
        .await
        .json();
    let id = created["id"].as_str().unwrap().to_owned();
    let token = created["link"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
    let changed = "Yw8-other-Code";
    t.call(
        "PATCH",
        &format!("/api/v1/shares/{id}"),
        Some(&alice),
        Some(json!({"access_code": changed})),
    )
    .await;
    let list = t.call("GET", "/api/v1/shares?status=all", Some(&alice), None).await;
    // The service's logs so far (the checks below log their own queries, secrets included).
    let logged = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(logged.contains("http.request"), "the capture works");

    for secret in [code, changed, token.as_str()] {
        let in_events = t
            .count(&format!(
                "SELECT count(*) FROM events WHERE payload::text LIKE '%{secret}%' OR metadata::text LIKE '%{secret}%'"
            ))
            .await;
        assert_eq!(in_events, 0, "{secret} is in an event");
        let in_tables = t
            .count(&format!(
                "SELECT (SELECT count(*) FROM my_share_links WHERE row(my_share_links.*)::text LIKE '%{secret}%') \
                      + (SELECT count(*) FROM share_secrets WHERE encode(token_sealed, 'escape') LIKE '%{secret}%' \
                           OR encode(coalesce(code_sealed, ''::bytea), 'escape') LIKE '%{secret}%' \
                           OR coalesce(code_hash, '') LIKE '%{secret}%')"
            ))
            .await;
        assert_eq!(in_tables, 0, "{secret} is stored in plain text");
        assert!(
            !String::from_utf8_lossy(&list.body).contains(secret),
            "{secret} is in the list"
        );
        assert!(!logged.contains(secret), "{secret} is in the logs");
    }
    let hash: String = sqlx::query_scalar("SELECT code_hash FROM share_secrets")
        .fetch_one(&t.db.pool)
        .await
        .unwrap();
    assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    let details = t
        .call("GET", &format!("/api/v1/shares/{id}"), Some(&alice), None)
        .await
        .json();
    assert_eq!(details["access_code"], changed, "the owner reads the current code back");
    let history = t
        .call("GET", &format!("/api/v1/shares/{id}/history"), Some(&alice), None)
        .await
        .json();
    let change = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "ShareAccessCodeChanged")
        .unwrap();
    assert_eq!(
        change["data"],
        json!({"code_version": 2, "generated": false}),
        "events only say a code was set"
    );
}

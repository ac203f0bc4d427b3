//! Issue 10: the reference product's official Python SDK (`alibabacloud-pds20220301`, from PyPI)
//! drives `/v2/share_link/*` of a real service process on a random port, and checks every
//! call's effect through the native API too (`tests/pds/sdk_scenario.py`). Afterwards the log
//! holds the events those calls made, and every projection equals a rebuild from zero.
//!
//! The SDK lives in a virtual environment under `target/pds-venv` that `scripts/test` creates
//! (`scripts/lib.sh`, `ensure_pds_sdk`); `SHARELEDGER_PDS_PYTHON` may name another interpreter.

mod support;

use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};
use shareledger::bench::service::Service;
use shareledger::testkit::TestDb;

fn python() -> PathBuf {
    let path = std::env::var_os("SHARELEDGER_PDS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/pds-venv/bin/python"));
    assert!(
        path.exists(),
        "{} is missing: `scripts/test` installs the reference SDK there (or run `. scripts/lib.sh && ensure_pds_sdk`)",
        path.display()
    );
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_sdk_creates_reads_updates_searches_opens_and_cancels_share_links() {
    let python = python();
    let db = TestDb::new().await;
    let secret = [11u8; 32];
    let service = Service::start_program(
        std::path::Path::new(env!("CARGO_BIN_EXE_shareledger")),
        &db.connect,
        &secret,
        &[],
    )
    .await
    .expect("the service starts");
    let client = service.client();
    let owner = service.token("sdk-owner", "sdk-enterprise", &["user"]);
    let bytes = b"the bytes the SDK scenario downloads".to_vec();
    let file = service.upload(&client, &owner, "clip.mp4", &bytes).await.unwrap();
    let mut others = Vec::new();
    for i in 0..5 {
        others.push(
            service
                .upload(
                    &client,
                    &owner,
                    &format!("file-{i}.bin"),
                    format!("file {i}").as_bytes(),
                )
                .await
                .unwrap()
                .to_string(),
        );
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/pds/sdk_scenario.py");
    let output = tokio::task::spawn_blocking({
        let base = service.base().to_owned();
        let owner = owner.clone();
        move || {
            Command::new(python)
                .arg(script)
                .env("SHARELEDGER_URL", base)
                .env("OWNER_TOKEN", owner)
                .env("OWNER_ID", "sdk-owner")
                .env("FILE_ID", file.to_string())
                .env("FILE_BYTES_HEX", hex::encode(&bytes))
                .env("OTHER_FILE_IDS", others.join(","))
                .output()
                .expect("python runs")
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the SDK scenario failed:\n{stderr}\n{stdout}");
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("a summary line");
    let main = summary["main"].as_str().expect("the main share's native id");

    // The log holds what the SDK's calls did to the main share, in order.
    let events: Vec<(String, Value)> =
        sqlx::query_as("SELECT event_type, payload FROM events WHERE stream_id = $1 ORDER BY stream_version")
            .bind(format!("share-{main}"))
            .fetch_all(&db.pool)
            .await
            .unwrap();
    let types: Vec<&str> = events.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(types.first(), Some(&"ShareCreated"));
    // Cancelled once; afterwards only refusals (the recipient's try on the cancelled link).
    let cancelled_at = types.iter().position(|t| *t == "ShareCancelled").expect("cancelled");
    assert_eq!(types.iter().filter(|t| **t == "ShareCancelled").count(), 1, "{types:?}");
    for (t, payload) in &events[cancelled_at + 1..] {
        assert_eq!((t.as_str(), &payload["reason"]), ("AccessRefused", &json!("cancelled")));
    }
    let refusals: Vec<&Value> = events
        .iter()
        .filter(|(t, _)| t == "AccessRefused")
        .map(|(_, p)| &p["reason"])
        .collect();
    assert!(refusals.contains(&&json!("code_wrong")), "{refusals:?}");
    assert_eq!(types.iter().filter(|t| **t == "ShareOpened").count(), 2, "{types:?}");
    assert_eq!(types.iter().filter(|t| **t == "FileDownloaded").count(), 1, "{types:?}");
    // No secret of the share is in any event.
    for (_, payload) in &events {
        let text = payload.to_string();
        assert!(!text.contains("s3cret-1") && !text.contains("n3w-code"), "{text}");
    }

    service.stop().await;
    support::reach_the_end_of_the_log(&db, true).await;
    assert_eq!(support::rebuilt_differences(&db).await, vec![]);
}

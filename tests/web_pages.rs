//! Issue 7, in a real browser: headless Chromium (Debian's `chromium` + `chromium-driver`, which
//! `scripts/test` installs) driven over WebDriver against the service process on a random port.
//! Screenshots of every page go to `target/screenshots/` for review.

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use shareledger::bench::service::Service;
use shareledger::testkit::TestDb;

/// A chromedriver of its own on a free port; killed when dropped.
struct Driver {
    child: tokio::process::Child,
    url: String,
}

impl Driver {
    async fn start() -> Driver {
        let program = std::env::var("SHARELEDGER_CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        assert!(
            Path::new(&program).exists(),
            "{program} is missing: `scripts/test` installs Debian's chromium and chromium-driver"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = tokio::process::Command::new(program)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while reqwest::get(format!("{url}/status")).await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not answer");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Driver { child, url }
    }

    /// A fresh browser (its own profile: no cookies shared with any other) downloading into `downloads`.
    async fn browser(&self, downloads: &Path) -> Client {
        let chromium = std::env::var("SHARELEDGER_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let profile = downloads.join("profile");
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-dev-shm-usage", "--disable-component-update", "--disable-sync", "--no-first-run",
                    "--window-size=1200,900", format!("--user-data-dir={}", profile.display()),
                ],
                "prefs": {
                    "download.default_directory": downloads.display().to_string(),
                    "download.prompt_for_download": false,
                }
            }
        });
        let Value::Object(caps) = caps else { unreachable!() };
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a WebDriver session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.expect("a screenshot");
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

async fn text(browser: &Client, css: &str) -> String {
    match browser
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
    {
        Ok(element) => element.text().await.unwrap(),
        Err(e) => {
            let url = browser.current_url().await.ok();
            let source = browser.source().await.unwrap_or_default();
            panic!("no `{css}` on {url:?}: {e}\n{source}")
        }
    }
}

async fn fill(browser: &Client, css: &str, value: &str) {
    let field = browser.find(Locator::Css(css)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

/// Submits a form and waits until the browser has left the page it was on.
async fn submit(browser: &Client, form_css: &str) {
    let old = browser.find(Locator::Css("html")).await.unwrap();
    browser
        .find(Locator::Css(&format!("{form_css} button[type=submit]")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while old.tag_name().await.is_ok() {
        assert!(Instant::now() < deadline, "submitting {form_css} did not load a page");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits for a finished download in `dir` and returns its bytes.
async fn downloaded(dir: &Path, name: &str) -> Vec<u8> {
    let path = dir.join(name);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if path.exists() && !dir.join(format!("{name}.crdownload")).exists() {
            return std::fs::read(&path).unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "{name} was not downloaded into {}",
            dir.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recipient_opens_a_link_with_its_code_downloads_and_sees_the_cancellation() {
    let db = TestDb::new().await;
    let secret = [5u8; 32];
    let service = Service::start_program(Path::new(env!("CARGO_BIN_EXE_shareledger")), &db.connect, &secret, &[])
        .await
        .expect("the service starts");
    let api = service.client();
    let owner = service.token("alice", "acme", &["user"]);
    let bytes = b"Quarterly numbers, as the owner uploaded them.\n".to_vec();
    let file = service.upload(&api, &owner, "numbers.txt", &bytes).await.unwrap();
    let created = service
        .call(
            &api,
            "POST",
            "/api/v1/shares",
            Some(&owner),
            Some(
                json!({"items": [file], "name": "Q4 numbers", "message": "For Thursday's meeting.",
                        "access_code": "pass-1234"}),
            ),
        )
        .await
        .unwrap();
    let share = created["id"].as_str().unwrap().to_owned();
    let link = created["link"].as_str().unwrap();
    let token = link.rsplit('/').next().unwrap().to_owned();
    let page = format!("{}/s/{token}", service.base());

    let driver = Driver::start().await;
    let scratch = tempfile::tempdir().unwrap();
    let recipient_downloads = scratch.path().join("recipient");
    std::fs::create_dir_all(&recipient_downloads).unwrap();
    let recipient = driver.browser(&recipient_downloads).await;

    // The landing page asks for the code and shows the owner and the message.
    recipient.goto(&page).await.unwrap();
    assert_eq!(text(&recipient, "h1").await, "Q4 numbers");
    assert!(text(&recipient, "main").await.contains("For Thursday's meeting."));
    assert!(text(&recipient, "main").await.contains("Shared by alice"));
    shot(&recipient, "recipient-code-prompt").await;

    // A wrong code is refused in words; the right one opens the items.
    fill(&recipient, "#code", "wrong-code").await;
    submit(&recipient, "form[action^='/s/']").await;
    assert!(text(&recipient, "[role=alert]").await.contains("not right"));
    shot(&recipient, "recipient-wrong-code").await;
    fill(&recipient, "#code", "pass-1234").await;
    submit(&recipient, "form[action^='/s/']").await;
    let item = text(&recipient, &format!("li[data-item='{file}']")).await;
    assert!(item.contains("numbers.txt") && item.contains("Download"), "{item}");
    shot(&recipient, "recipient-items").await;

    // Download: the browser saves exactly the owner's bytes.
    recipient
        .find(Locator::Css(&format!("li[data-item='{file}'] a[download]")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert_eq!(downloaded(&recipient_downloads, "numbers.txt").await, bytes);

    // The owner signs in and sees the open and the download in My Share Links.
    let owner_downloads = scratch.path().join("owner");
    std::fs::create_dir_all(&owner_downloads).unwrap();
    let browser = driver.browser(&owner_downloads).await;
    browser.goto(&format!("{}/", service.base())).await.unwrap();
    assert_eq!(text(&browser, "h1").await, "Sign in");
    shot(&browser, "signin").await;
    fill(&browser, "#token", "not a token").await;
    submit(&browser, "form[action='/signin']").await;
    assert!(text(&browser, "[role=alert]").await.contains("not valid"));
    fill(&browser, "#token", &owner).await;
    submit(&browser, "form[action='/signin']").await;
    assert_eq!(text(&browser, "h1").await, "My Share Links");
    let row = text(&browser, &format!("tr[data-share='{share}']")).await;
    assert!(
        row.contains("Q4 numbers") && row.contains("active") && row.contains("1 / 1"),
        "{row}"
    );
    shot(&browser, "my-share-links").await;
    fill(&browser, "#q", "no such name").await;
    submit(&browser, "form[role=search]").await;
    assert!(text(&browser, "main").await.contains("No share links match."));

    // The owner cancels; the recipient's reload says so.
    service
        .call(
            &api,
            "POST",
            &format!("/api/v1/shares/{share}/cancel"),
            Some(&owner),
            None,
        )
        .await
        .unwrap();
    let old = recipient.find(Locator::Css("html")).await.unwrap();
    recipient.refresh().await.unwrap();
    assert!(old.tag_name().await.is_err(), "the page was reloaded");
    assert_eq!(text(&recipient, "h1").await, "This link was cancelled");
    recipient
        .find(Locator::Css("[data-refusal='share_cancelled']"))
        .await
        .unwrap();
    shot(&recipient, "recipient-cancelled").await;

    recipient.close().await.unwrap();
    browser.close().await.unwrap();
    service.stop().await;
}

#[tokio::test]
async fn pages_carry_the_security_headers_and_forms_need_their_token() {
    let app = support::TestApp::new().await;
    let alice = app.user("alice");
    let file = app.upload(&alice, "a.txt", b"a", None).await;
    let (share, token) = app
        .shared_link(&alice, &[file], json!({"access_code": "pass-1234"}))
        .await;
    for path in [
        format!("/s/{token}"),
        "/signin".to_owned(),
        "/s/unknown-token".to_owned(),
    ] {
        let reply = app.call("GET", &path, None, None).await;
        let h = |name: &str| {
            reply
                .headers
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default()
        };
        assert!(h("content-type").starts_with("text/html"), "{path}");
        assert_eq!(h("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(h("referrer-policy"), "no-referrer", "{path}");
        assert_eq!(h("cache-control"), "no-store", "{path}");
        assert!(h("x-robots-tag").contains("noindex"), "{path}");
        assert!(
            h("content-security-policy").contains("frame-ancestors 'none'"),
            "{path}"
        );
        let cookie = h("set-cookie");
        assert!(
            cookie.starts_with("__Host-sl-csrf=") && cookie.contains("SameSite=Strict"),
            "{path}: {cookie}"
        );
    }
    let unknown = app.call("GET", "/s/unknown-token", None, None).await;
    assert_eq!(unknown.status, axum::http::StatusCode::NOT_FOUND);

    // A code sent without the browser's form token (another site's form) opens nothing and
    // records nothing.
    let before = app.share_events(share).await.len();
    let forged = format!("__Host-sl-csrf={}", "a".repeat(43));
    for (cookie, field) in [("", "x".repeat(43)), (forged.as_str(), "b".repeat(43))] {
        let request = axum::http::Request::builder()
            .method("POST")
            .uri(format!("/s/{token}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", cookie)
            .body(axum::body::Body::from(format!("csrf={field}&code=pass-1234")))
            .unwrap();
        let reply = app.send(request).await;
        assert_eq!(reply.status, axum::http::StatusCode::FORBIDDEN);
        assert!(!reply.headers.contains_key("location"));
    }
    assert_eq!(app.share_events(share).await.len(), before);
}

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

/// The page now shown, to wait for the browser to leave it (`left`).
async fn current_page(browser: &Client) -> fantoccini::elements::Element {
    browser.find(Locator::Css("html")).await.unwrap()
}

/// Waits (10 s at most) until the page `old` was taken from is gone.
async fn left(old: fantoccini::elements::Element, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while old.tag_name().await.is_ok() {
        assert!(Instant::now() < deadline, "{what} did not load a page");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Submits a form and waits until the browser has left the page it was on.
async fn submit(browser: &Client, form_css: &str) {
    let old = current_page(browser).await;
    browser
        .find(Locator::Css(&format!("{form_css} button[type=submit]")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    left(old, &format!("submitting {form_css}")).await;
}

/// Reloads the page and waits until the new one is there.
async fn reload(browser: &Client) {
    let old = current_page(browser).await;
    browser.refresh().await.unwrap();
    left(old, "reloading").await;
}

/// Picks a local file in a file input.
async fn attach(browser: &Client, css: &str, file: &Path) {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap()
        .send_keys(file.to_str().unwrap())
        .await
        .unwrap();
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

async fn value(browser: &Client, css: &str) -> String {
    browser
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default()
}

async fn click(browser: &Client, css: &str) {
    browser.find(Locator::Css(css)).await.unwrap().click().await.unwrap();
}

/// Signs a fresh browser in with a token through the sign-in page.
async fn sign_in(browser: &Client, base: &str, token: &str) {
    browser.goto(&format!("{base}/")).await.unwrap();
    assert_eq!(text(browser, "h1").await, "Sign in");
    fill(browser, "#token", token).await;
    submit(browser, "form[action='/signin']").await;
    assert_eq!(text(browser, "h1").await, "My Share Links");
}

/// Reloads until `css` shows `wanted` (the asynchronous projections catch up within moments).
async fn eventually_shows(browser: &Client, css: &str, wanted: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let shown = text(browser, css).await;
        if shown.contains(wanted) {
            return shown;
        }
        assert!(Instant::now() < deadline, "`{css}` never showed {wanted:?}: {shown}");
        tokio::time::sleep(Duration::from_millis(300)).await;
        reload(browser).await;
    }
}

/// The issue's whole story in the browser: the owner signs in, uploads, shares with a code and
/// reads the link and code from the page; a recipient in a fresh browser opens it, types the
/// code, downloads the file (same bytes); the owner sees the download in the statistics and the
/// history and cancels from My Share Links; the recipient's reload shows the cancelled page.
/// Then search and bulk cancel, and the admin switch that makes an `anyone` link show the
/// "sharing disabled" page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_and_recipient_pages_from_upload_to_cancellation() {
    let db = TestDb::new().await;
    let secret = [5u8; 32];
    let service = Service::start_program(Path::new(env!("CARGO_BIN_EXE_shareledger")), &db.connect, &secret, &[])
        .await
        .expect("the service starts");
    let base = service.base().to_owned();
    let api = service.client();
    let owner = service.token("alice", "acme", &["user"]);
    let driver = Driver::start().await;
    let scratch = tempfile::tempdir().unwrap();
    let dir = |name: &str| {
        let d = scratch.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        d
    };

    // The owner signs in, uploads a file in My Drive and shares it with a code.
    let owner_browser = driver.browser(&dir("owner")).await;
    shot_after(&owner_browser, &base, "/signin", "signin").await;
    fill(&owner_browser, "#token", "not a token").await;
    submit(&owner_browser, "form[action='/signin']").await;
    assert!(text(&owner_browser, "[role=alert]").await.contains("not valid"));
    sign_in(&owner_browser, &base, &owner).await;
    let bytes = b"Quarterly numbers, as the owner uploaded them.\n".to_vec();
    let upload = dir("files").join("numbers.txt");
    std::fs::write(&upload, &bytes).unwrap();
    owner_browser.goto(&format!("{base}/drive")).await.unwrap();
    attach(&owner_browser, "#file", &upload).await;
    submit(&owner_browser, "form[action^='/drive/upload']").await;
    fill(&owner_browser, "#folder-name", "Projects").await;
    submit(&owner_browser, "form[action='/drive/folders']").await;
    let row = text(&owner_browser, "tr[data-item]:has(label)").await;
    assert!(row.contains("numbers.txt"), "{row}");
    shot(&owner_browser, "my-drive").await;
    click(&owner_browser, "tr[data-item]:has(label) input[type=checkbox]").await;
    submit(&owner_browser, "#select-items").await;
    assert_eq!(text(&owner_browser, "h1").await, "Share Link");
    fill(&owner_browser, "#name", "Q4 numbers").await;
    fill(&owner_browser, "#message", "For Thursday's meeting.").await;
    click(&owner_browser, "input[name=code_mode][value=custom]").await;
    fill(&owner_browser, "#code", "pass-1234").await;
    click(&owner_browser, "input[name=expiry][value='30']").await;
    shot(&owner_browser, "share-link-dialog").await;
    submit(&owner_browser, "#create-share").await;
    assert!(text(&owner_browser, "#link-card").await.contains("Your link is ready"));
    let link = value(&owner_browser, "#link").await;
    let code = value(&owner_browser, "#access-code").await;
    assert_eq!(code, "pass-1234");
    owner_browser.find(Locator::Css("img.qr")).await.unwrap();
    shot(&owner_browser, "share-created").await;
    let share = owner_browser
        .current_url()
        .await
        .unwrap()
        .path()
        .trim_start_matches("/links/")
        .to_owned();
    assert!(link.starts_with(&format!("{base}/s/")), "{link}");

    // A recipient in a fresh browser: the code prompt, a wrong code, the right one, the download.
    let downloads = dir("recipient");
    let recipient = driver.browser(&downloads).await;
    recipient.goto(&link).await.unwrap();
    assert_eq!(text(&recipient, "h1").await, "Q4 numbers");
    let intro = text(&recipient, "main").await;
    assert!(
        intro.contains("For Thursday's meeting.") && intro.contains("Shared by alice"),
        "{intro}"
    );
    shot(&recipient, "recipient-code-prompt").await;
    fill(&recipient, "#code", "wrong-code").await;
    submit(&recipient, "form[action^='/s/']").await;
    assert!(text(&recipient, "[role=alert]").await.contains("not right"));
    shot(&recipient, "recipient-wrong-code").await;
    // By keyboard: type the code and press Enter.
    fill(&recipient, "#code", &code).await;
    let old = current_page(&recipient).await;
    recipient
        .find(Locator::Css("#code"))
        .await
        .unwrap()
        .send_keys(&fantoccini::key::Key::Enter.to_string())
        .await
        .unwrap();
    left(old, "pressing Enter in the code field").await;
    let item = text(&recipient, "li[data-item]").await;
    assert!(item.contains("numbers.txt") && item.contains("Download"), "{item}");
    shot(&recipient, "recipient-items").await;
    click(&recipient, "li[data-item] a[download]").await;
    assert_eq!(downloaded(&downloads, "numbers.txt").await, bytes);

    // The owner sees the download in the statistics and the history.
    owner_browser.goto(&format!("{base}/links/{share}")).await.unwrap();
    eventually_shows(&owner_browser, "#statistics", "1 downloads").await;
    assert!(text(&owner_browser, "#history").await.contains("FileDownloaded"));
    owner_browser.find(Locator::Css("#statistics svg rect")).await.unwrap();
    shot(&owner_browser, "share-details").await;
    let chart = owner_browser.find(Locator::Css("#statistics")).await.unwrap();
    std::fs::write(
        screenshots().join("share-statistics.png"),
        chart.screenshot().await.unwrap(),
    )
    .unwrap();

    // Cancel from My Share Links (behind a confirmation); the recipient's reload says so.
    owner_browser.goto(&format!("{base}/links")).await.unwrap();
    let row = text(&owner_browser, &format!("tr[data-share='{share}']")).await;
    assert!(
        row.contains("Q4 numbers") && row.contains("active") && row.contains("1 / 1"),
        "{row}"
    );
    shot(&owner_browser, "my-share-links").await;
    click(&owner_browser, &format!("tr[data-share='{share}'] input[name=ids]")).await;
    submit(&owner_browser, "#bulk-cancel").await;
    assert!(text(&owner_browser, "#confirm-cancel").await.contains("Q4 numbers"));
    submit(&owner_browser, "#confirm-cancel").await;
    assert!(
        text(&owner_browser, "[role=status]")
            .await
            .contains("1 share link cancelled")
    );
    reload(&recipient).await;
    assert_eq!(text(&recipient, "h1").await, "This link was cancelled");
    recipient
        .find(Locator::Css("[data-refusal='share_cancelled']"))
        .await
        .unwrap();
    shot(&recipient, "recipient-cancelled").await;

    // Search and bulk cancel through the page.
    let file = service.upload(&api, &owner, "plan.txt", b"plan").await.unwrap();
    let mut ids = Vec::new();
    for name in ["alpha report", "beta report", "gamma notes"] {
        let created = service
            .call(
                &api,
                "POST",
                "/api/v1/shares",
                Some(&owner),
                Some(json!({"items": [file], "name": name})),
            )
            .await
            .unwrap();
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    owner_browser.goto(&format!("{base}/links")).await.unwrap();
    fill(&owner_browser, "#q", "report").await;
    submit(&owner_browser, "form[role=search]").await;
    let listed = text(&owner_browser, "#bulk-cancel tbody").await;
    assert!(
        listed.contains("alpha report") && listed.contains("beta report") && !listed.contains("gamma"),
        "{listed}"
    );
    for id in &ids[..2] {
        click(&owner_browser, &format!("tr[data-share='{id}'] input[name=ids]")).await;
    }
    submit(&owner_browser, "#bulk-cancel").await;
    submit(&owner_browser, "#confirm-cancel").await;
    assert!(
        text(&owner_browser, "[role=status]")
            .await
            .contains("2 share links cancelled")
    );
    for (id, status) in ids.iter().zip(["cancelled", "cancelled", "active"]) {
        let details = service
            .call(&api, "GET", &format!("/api/v1/shares/{id}"), Some(&owner), None)
            .await
            .unwrap();
        assert_eq!(details["status"], status);
    }
    fill(&owner_browser, "#q", "no such name").await;
    submit(&owner_browser, "form[role=search]").await;
    assert!(text(&owner_browser, "main").await.contains("No share links match."));

    // The admin switches external sharing off: an `anyone` link shows "sharing disabled".
    let gamma = service
        .call(&api, "GET", &format!("/api/v1/shares/{}", ids[2]), Some(&owner), None)
        .await
        .unwrap();
    let gamma_link = gamma["link"].as_str().unwrap().to_owned();
    let admin_browser = driver.browser(&dir("admin")).await;
    sign_in(
        &admin_browser,
        &base,
        &service.token("root", "acme", &["user", "admin"]),
    )
    .await;
    admin_browser.goto(&format!("{base}/admin")).await.unwrap();
    assert!(text(&admin_browser, "#projections").await.contains("access_stats"));
    click(&admin_browser, "input[name=external_sharing]").await;
    shot(&admin_browser, "admin").await;
    submit(&admin_browser, "#policy").await;
    assert!(text(&admin_browser, "[role=status]").await.contains("Saved"));
    let visitor = driver.browser(&dir("visitor")).await;
    visitor.goto(&gamma_link).await.unwrap();
    assert_eq!(text(&visitor, "h1").await, "Sharing is switched off");
    visitor
        .find(Locator::Css("[data-refusal='sharing_disabled']"))
        .await
        .unwrap();
    shot(&visitor, "recipient-sharing-disabled").await;

    for browser in [recipient, owner_browser, admin_browser, visitor] {
        browser.close().await.unwrap();
    }
    service.stop().await;
}

async fn shot_after(browser: &Client, base: &str, path: &str, name: &str) {
    browser.goto(&format!("{base}{path}")).await.unwrap();
    text(browser, "h1").await;
    shot(browser, name).await;
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
    // A link copied with auto-fill carries the code: the prompt comes pre-filled.
    let prefilled = app.call("GET", &format!("/s/{token}?code=pass-1234"), None, None).await;
    assert!(String::from_utf8_lossy(&prefilled.body).contains(r#"value="pass-1234""#));
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

/// `serve --demo` on an empty log: the demo enterprise, and one-time sign-in links that ask
/// before they sign in, work once, and then say they are used.
#[tokio::test]
async fn the_demo_seeds_once_and_its_sign_in_links_work_once() {
    use shareledger::service::demo;
    let app = support::TestApp::new().await;
    assert!(demo::seed_if_new(&app.state).await.unwrap());
    assert!(
        !demo::seed_if_new(&app.state).await.unwrap(),
        "a second start seeds nothing"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM drive_items WHERE owner_id = 'alice'")
            .await,
        4,
        "Welcome.txt, the report, the folder and the plan in it"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM my_share_links WHERE owner_id = 'alice'")
            .await,
        1
    );

    let links = demo::signin_links(&app.state).await.unwrap();
    assert_eq!(
        links.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["Alice Example", "Bob Example"]
    );
    let path = links[0]
        .1
        .split_once("/signin/once/")
        .map(|(_, code)| format!("/signin/once/{code}"))
        .unwrap();

    // Fetching the link (a mail scanner would) signs nobody in and does not use it up.
    for _ in 0..2 {
        let page = app.call("GET", &path, None, None).await;
        assert_eq!(page.status, axum::http::StatusCode::OK);
        assert!(String::from_utf8_lossy(&page.body).contains("Continue as Alice Example"));
        assert!(
            !page
                .headers
                .get_all("set-cookie")
                .iter()
                .any(|c| c.to_str().unwrap().starts_with("__Host-sl-auth"))
        );
    }
    let csrf = "c".repeat(43);
    let post = || {
        axum::http::Request::builder()
            .method("POST")
            .uri(path.as_str())
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", format!("__Host-sl-csrf={csrf}"))
            .body(axum::body::Body::from(format!("csrf={csrf}")))
            .unwrap()
    };
    let signed_in = app.send(post()).await;
    assert_eq!(signed_in.status, axum::http::StatusCode::SEE_OTHER);
    let cookie = signed_in
        .headers
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("__Host-sl-auth=") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    let token = cookie.trim_start_matches("__Host-sl-auth=").split(';').next().unwrap();
    let me = app.call("GET", "/api/v1/me", Some(token), None).await.json();
    assert_eq!(
        (me["user_id"].as_str(), me["enterprise_id"].as_str()),
        (Some("alice"), Some("demo"))
    );

    let again = app.send(post()).await;
    assert_eq!(again.status, axum::http::StatusCode::GONE);
    assert_eq!(
        app.call("GET", &path, None, None).await.status,
        axum::http::StatusCode::GONE
    );
}

/// A folder shared for uploads and a document shared for online editing: the recipient browses
/// into the folder, uploads into it, and replaces the document; both land in the owner's drive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipients_browse_folders_upload_and_edit_through_the_page() {
    let db = TestDb::new().await;
    let service = Service::start_program(
        Path::new(env!("CARGO_BIN_EXE_shareledger")),
        &db.connect,
        &[6u8; 32],
        &[],
    )
    .await
    .expect("the service starts");
    let api = service.client();
    let owner = service.token("alice", "acme", &["user", "admin"]);
    service
        .policy(&api, &owner, json!({"online_editing": true}))
        .await
        .unwrap();
    let draft = service
        .upload(&api, &owner, "draft.txt", b"first version")
        .await
        .unwrap();
    let inbox = service
        .call(
            &api,
            "POST",
            "/api/v1/drive/items",
            Some(&owner),
            Some(json!({"kind": "folder", "name": "Inbox"})),
        )
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let share = |body: Value| {
        let (service, api, owner) = (&service, &api, &owner);
        async move {
            let created = service
                .call(api, "POST", "/api/v1/shares", Some(owner), Some(body))
                .await
                .unwrap();
            created["link"].as_str().unwrap().to_owned()
        }
    };
    let drop_box = share(json!({"items": [inbox], "name": "Drop box",
                                "permissions": {"preview": true, "download": true, "upload": true}}))
    .await;
    let review = share(json!({"items": [draft], "name": "Please review",
                              "permissions": {"preview": true, "download": true, "edit": true}}))
    .await;

    let driver = Driver::start().await;
    let scratch = tempfile::tempdir().unwrap();
    let browser = driver.browser(scratch.path()).await;
    browser.goto(&drop_box).await.unwrap();
    assert_eq!(text(&browser, "h1").await, "Drop box");

    // Into the folder, and upload there.
    click(&browser, &format!("li[data-item='{inbox}'] a")).await;
    assert!(text(&browser, "main").await.contains("This folder is empty."));
    let upload = scratch.path().join("answer.txt");
    std::fs::write(&upload, b"my answer").unwrap();
    attach(&browser, "#file", &upload).await;
    submit(&browser, "form[action*='/upload']").await;
    assert!(text(&browser, "[role=status]").await.contains("Uploaded"));
    assert!(text(&browser, "ul.items").await.contains("answer.txt"));
    shot(&browser, "recipient-folder-upload").await;
    let listing = service
        .call(
            &api,
            "GET",
            &format!("/api/v1/drive/items?parent={inbox}"),
            Some(&owner),
            None,
        )
        .await
        .unwrap();
    assert_eq!(listing["items"][0]["name"], "answer.txt");

    // A new version of the shared document.
    browser.goto(&review).await.unwrap();
    let draft_row = text(&browser, &format!("li[data-item='{draft}']")).await;
    assert!(
        draft_row.contains("Edit") && draft_row.contains("Download"),
        "{draft_row}"
    );
    click(&browser, &format!("li[data-item='{draft}'] a[href$='/edit']")).await;
    assert_eq!(text(&browser, "h1").await, "Edit draft.txt");
    let version = scratch.path().join("draft-v2.txt");
    std::fs::write(&version, b"second version").unwrap();
    attach(&browser, "#file", &version).await;
    submit(&browser, "#edit-document").await;
    assert!(text(&browser, "[role=status]").await.contains("new version is saved"));
    let content = api
        .get(format!("{}/api/v1/drive/items/{draft}/content", service.base()))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&content[..], b"second version");

    browser.close().await.unwrap();
    service.stop().await;
}

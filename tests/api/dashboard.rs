//! The built-in dashboard: served offline from the binary, and driven in a real headless
//! Chromium (through chromedriver's WebDriver protocol) on a server seeded with the Mall
//! customers: the run page renders its charts and the five segments' profiles. The screenshot
//! is kept as `target/screenshots/dashboard.png`.

use crate::helpers::{TestApp, json_ok, spawn_app};
use serde_json::{Value, json};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::test]
async fn the_dashboard_is_served_from_the_binary() {
    let app = spawn_app().await;
    let page = app.get("/").await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(policy.contains("default-src 'self'") && policy.contains("script-src 'self'"));
    let html = page.text().await.unwrap();
    // Nothing from elsewhere: every script and stylesheet is the server's own.
    for reference in ["src=\"", "href=\""] {
        for at in html
            .match_indices(reference)
            .map(|(i, _)| i + reference.len())
        {
            let target = &html[at..];
            assert!(
                target.starts_with('/') || target.starts_with('#'),
                "{}",
                &target[..target.find('"').unwrap()]
            );
        }
    }
    for (path, kind) in [
        ("/dashboard/app.js", "text/javascript; charset=utf-8"),
        ("/dashboard/app.css", "text/css; charset=utf-8"),
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["content-type"], kind);
        let body = response.text().await.unwrap();
        assert!(
            !body.contains("http://") && !body.contains("https://"),
            "{path}"
        );
    }
    // The script speaks to the /v1 API only.
    let script = app.get("/dashboard/app.js").await.text().await.unwrap();
    for call in script.match_indices("api(`").map(|(i, _)| &script[i + 5..]) {
        assert!(call.starts_with("/v1/"), "{}", &call[..30.min(call.len())]);
    }
}

/// chromedriver on a free port, stopped when dropped.
pub struct Driver {
    child: Child,
    url: String,
    client: reqwest::Client,
}

impl Drop for Driver {
    /// Stops chromedriver and the Chromium it started (its own process group), also when the
    /// test failed before closing the session.
    fn drop(&mut self) {
        let group = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

fn find(binary: &str) -> Option<String> {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([std::path::PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(binary))
        .find(|p| p.is_file())
        .map(|p| p.display().to_string())
}

impl Driver {
    /// chromedriver, or a failure saying how to install it (the tests that need it are
    /// `#[ignore]`d: they run only when asked to, and then must not pass silently).
    pub async fn required() -> Driver {
        match Driver::start().await {
            Some(driver) => driver,
            None => panic!("chromedriver is not installed: apt install chromium chromium-driver"),
        }
    }

    async fn start() -> Option<Driver> {
        let chromedriver = find("chromedriver")?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
        };
        let started = Instant::now();
        loop {
            if let Ok(r) = driver
                .client
                .get(format!("{}/status", driver.url))
                .send()
                .await
            {
                let status: Value = r.json().await.unwrap_or_default();
                if status["value"]["ready"] == true {
                    return Some(driver);
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.client.request(method, format!("{}{path}", self.url));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let value: Value = response.json().await.unwrap();
        assert!(status.is_success(), "{path}: {value}");
        value["value"].clone()
    }
}

/// A browser session: navigate, run a script, wait for a condition, take a screenshot.
pub struct Browser<'a> {
    driver: &'a Driver,
    session: String,
}

impl Browser<'_> {
    pub async fn open(driver: &Driver) -> Browser<'_> {
        let chromium = find("chromium").or_else(|| find("chromium-browser"));
        let mut options = json!({"args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--no-first-run", "--window-size=1400,2200"
        ]});
        if let Some(binary) = chromium {
            options["binary"] = json!(binary);
        }
        let created = driver
            .call(
                reqwest::Method::POST,
                "/session",
                Some(json!({"capabilities": {"alwaysMatch": {
                    "browserName": "chrome", "goog:chromeOptions": options
                }}})),
            )
            .await;
        Browser {
            driver,
            session: created["sessionId"].as_str().unwrap().to_owned(),
        }
    }

    pub async fn go(&self, url: &str) {
        self.driver
            .call(
                reqwest::Method::POST,
                &format!("/session/{}/url", self.session),
                Some(json!({ "url": url })),
            )
            .await;
    }

    pub async fn script(&self, script: &str) -> Value {
        self.driver
            .call(
                reqwest::Method::POST,
                &format!("/session/{}/execute/sync", self.session),
                Some(json!({"script": script, "args": []})),
            )
            .await
    }

    /// Polls `condition` (a script returning true when met) for up to 30 s.
    pub async fn wait_for(&self, what: &str, condition: &str) {
        let started = Instant::now();
        while self.script(condition).await != true {
            if started.elapsed() > Duration::from_secs(30) {
                let text = self.script("return document.body.innerText").await;
                panic!("timed out waiting for {what}; the page reads: {text}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Resizes the window to `width` × `height` CSS pixels.
    pub async fn resize(&self, width: u32, height: u32) {
        self.driver
            .call(
                reqwest::Method::POST,
                &format!("/session/{}/window/rect", self.session),
                Some(json!({ "width": width, "height": height })),
            )
            .await;
    }

    /// Types `key` into the dashboard's sign-in form and submits it.
    pub async fn submit_key(&self, key: &str) {
        self.script(&format!(
            "document.getElementById('key').value = '{key}'; \
             document.querySelector('#sign-in button').click(); return true"
        ))
        .await;
    }

    /// Signs in on the dashboard with the app's key.
    /// Signs in with the app's key and waits until the page says so.
    pub async fn sign_in_only(&self, app: &TestApp) {
        self.go(&app.url("/")).await;
        self.wait_for(
            "the sign-in form",
            "return !!document.getElementById('key')",
        )
        .await;
        self.submit_key(&app.key).await;
        self.wait_for(
            "the signed-in page",
            "return !document.getElementById('sign-out').hidden",
        )
        .await;
    }

    /// Signs in and waits for the segmentation list.
    pub async fn sign_in(&self, app: &TestApp) {
        self.sign_in_only(app).await;
        self.wait_for(
            "the segmentation list",
            "return !!document.querySelector('#segmentations tbody tr')",
        )
        .await;
    }

    /// Saves a screenshot as `target/screenshots/{name}.png`.
    pub async fn keep(&self, name: &str) {
        self.screenshot(&screenshots().join(format!("{name}.png")))
            .await;
    }

    pub async fn screenshot(&self, path: &std::path::Path) {
        let encoded = self
            .driver
            .call(
                reqwest::Method::GET,
                &format!("/session/{}/screenshot", self.session),
                None,
            )
            .await;
        use base64::Engine;
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().unwrap())
            .unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }

    pub async fn close(self) {
        self.driver
            .call(
                reqwest::Method::DELETE,
                &format!("/session/{}", self.session),
                None,
            )
            .await;
    }
}

pub fn screenshots() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots")
}

async fn seeded() -> (TestApp, Vec<String>) {
    let app = spawn_app().await;
    app.import_mall().await;
    let segmentation = app
        .create_segmentation(json!({
            "name": "Mall: income and spend",
            "description": "Annual income against spending score",
            "config": {"features": ["annual_income_k", "spending_score"],
                       "algorithm": {"type": "kmeans", "k": "auto", "k_min": 2, "k_max": 10}}
        }))
        .await;
    let run = app.run_to_success(&segmentation).await;
    let id = run["id"].as_str().unwrap();
    let list = json_ok(app.get(&format!("/v1/runs/{id}/segments")).await).await;
    let labels = list["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["label"].as_str().unwrap().to_owned())
        .collect();
    (app, labels)
}

#[tokio::test]
#[ignore = "needs Chromium and chromedriver: apt install chromium chromium-driver (run with --include-ignored)"]
async fn a_browser_sees_the_mall_segments_on_the_run_page() {
    // Run (`--include-ignored`) without a browser, the test fails and says what to install.
    let driver = Driver::required().await;
    let (app, labels) = seeded().await;
    let browser = Browser::open(&driver).await;
    browser.go(&app.url("/")).await;
    // Without a key the dashboard asks for one; a wrong one is refused on the form.
    browser
        .wait_for(
            "the sign-in form",
            "return !!document.getElementById('key')",
        )
        .await;
    browser.submit_key("segk_000000000000_nope").await;
    browser
        .wait_for(
            "the refusal",
            "return !document.getElementById('sign-in-error').hidden",
        )
        .await;
    browser.submit_key(&app.key).await;
    browser
        .wait_for(
            "the segmentation list",
            "return document.querySelectorAll('#segmentations tbody tr').length === 1",
        )
        .await;
    // From the list to the active run, as a user clicks.
    browser
        .script(
            "document.querySelector('#segmentations tbody tr td:nth-child(4) a').click(); \
             return true",
        )
        .await;
    browser
        .wait_for(
            "the run page's profiles and charts",
            "return document.querySelectorAll('#profile-table tbody tr').length === 5 && \
             [...document.querySelectorAll('img.chart-image')].length === 3 && \
             [...document.querySelectorAll('img.chart-image')].every(i => i.dataset.loaded === 'true')",
        )
        .await;
    let shown = browser
        .script(
            "return [...document.querySelectorAll('#profile-table tbody tr td:nth-child(2)')] \
             .map(td => td.innerText)",
        )
        .await;
    let shown: Vec<String> = serde_json::from_value(shown).unwrap();
    for label in &labels {
        assert!(
            shown.iter().any(|s| s.starts_with(label)),
            "{label} in {shown:?}"
        );
    }
    let sizes = browser
        .script(
            "return [...document.querySelectorAll('img.chart-image')] \
             .map(i => [i.getAttribute('src'), i.naturalWidth, i.naturalHeight])",
        )
        .await;
    for chart in sizes.as_array().unwrap() {
        assert!(chart[1].as_u64().unwrap() > 300, "{chart}");
        assert!(chart[2].as_u64().unwrap() > 200, "{chart}");
    }
    // The key is in an HttpOnly cookie: the page's scripts cannot read it.
    let cookies = browser.script("return document.cookie").await;
    assert!(!cookies.to_string().contains("segk_"), "{cookies}");
    browser
        .screenshot(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("target/screenshots/dashboard.png"),
        )
        .await;
    // Picking the y feature for x swaps the axes and redraws the scatter.
    browser
        .script(
            "const x = document.getElementById('x'); x.value = 'spending_score'; \
             x.dispatchEvent(new Event('change')); return true",
        )
        .await;
    browser
        .wait_for(
            "the redrawn scatter",
            "const i = document.querySelector('#scatter-image img'); \
             return i.getAttribute('src').endsWith('?x=spending_score&y=annual_income_k') && \
             document.getElementById('y').value === 'annual_income_k' && i.dataset.loaded === 'true'",
        )
        .await;
    // Retrain from the run page: the page follows the new run until it succeeds.
    let before = browser.script("return location.hash").await;
    browser
        .script("document.getElementById('retrain').click(); return true")
        .await;
    browser
        .wait_for(
            "the new run to succeed",
            &format!(
                "return location.hash !== {before} && \
                 document.querySelector('#run-status')?.dataset.status === 'succeeded' && \
                 document.querySelectorAll('#profile-table tbody tr').length === 5"
            ),
        )
        .await;
    browser.close().await;
}

/// The API documentation under its content policy: Swagger UI loads from the binary, its
/// Authorize button takes a key, and "Try it out" then answers 200.
#[tokio::test]
#[ignore = "needs Chromium and chromedriver: apt install chromium chromium-driver (run with --include-ignored)"]
async fn swagger_ui_authorizes_with_a_key_and_tries_an_operation() {
    let driver = Driver::required().await;
    let app = spawn_app().await;
    let browser = Browser::open(&driver).await;
    browser.go(&app.url("/docs/")).await;
    browser
        .wait_for(
            "Swagger UI's Authorize button",
            "return !!document.querySelector('.btn.authorize')",
        )
        .await;
    browser
        .script("document.querySelector('.btn.authorize').click(); return true")
        .await;
    browser
        .wait_for(
            "the key's field",
            "return !!document.querySelector('.modal-ux input')",
        )
        .await;
    browser
        .script(&format!(
            "const input = document.querySelector('.modal-ux input'); \
             Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set \
               .call(input, '{}'); \
             input.dispatchEvent(new Event('input', {{ bubbles: true }})); \
             document.querySelector('.modal-ux .auth-btn-wrapper .authorize').click(); \
             return true",
            app.key
        ))
        .await;
    browser
        .wait_for(
            "the authorization",
            "return !!document.querySelector('.modal-ux .auth-btn-wrapper .btn-done, .modal-ux button.logout')",
        )
        .await;
    browser
        .script("document.querySelector('.modal-ux .close-modal').click(); return true")
        .await;
    browser
        .wait_for(
            "the dialog to close",
            "return !document.querySelector('.modal-ux')",
        )
        .await;
    browser
        .script(
            "const op = document.querySelector('#operations-attributes-list_attributes'); \
             (op.querySelector('.opblock-summary-control') || op.querySelector('.opblock-summary')).click(); \
             return true",
        )
        .await;
    browser
        .wait_for(
            "Try it out",
            "return !!document.querySelector('#operations-attributes-list_attributes .try-out__btn')",
        )
        .await;
    browser
        .script(
            "document.querySelector('#operations-attributes-list_attributes .try-out__btn').click(); \
             return true",
        )
        .await;
    browser
        .wait_for(
            "Execute",
            "return !!document.querySelector('#operations-attributes-list_attributes .execute')",
        )
        .await;
    browser
        .script(
            "document.querySelector('#operations-attributes-list_attributes .execute').click(); \
             return true",
        )
        .await;
    browser
        .wait_for(
            "a 200 answer",
            "const text = document.querySelector('#operations-attributes-list_attributes').innerText; \
             return /Server response\\s+Code\\s+Details\\s+200/.test(text) && text.includes('Bearer segk_')",
        )
        .await;
}

/// The smallest `font-size` an SVG document draws text at.
fn smallest_font(svg: &str) -> f64 {
    svg.match_indices("font-size=\"")
        .map(|(i, m)| {
            let rest = &svg[i + m.len()..];
            rest[..rest.find('"').unwrap()]
                .trim_end_matches("px")
                .parse::<f64>()
                .unwrap()
        })
        .fold(f64::INFINITY, f64::min)
}

/// A run page as a marketer reads it, at 1400 and at 1920 px: every chart's text at 12 px or
/// more as displayed, the profile table apart from the cards under it, no empty half row
/// beside a chart, the lift's ends named. Screenshots of the Mall run, an RFM run, a
/// segment's members and a customer's page go to `target/screenshots/`.
#[tokio::test]
#[ignore = "needs Chromium and chromedriver: apt install chromium chromium-driver (run with --include-ignored)"]
async fn the_run_pages_read_well_at_1400_and_1920_pixels_and_customers_have_pages() {
    let driver = Driver::required().await;
    let (app, labels) = seeded().await;
    let mall = app.get("/v1/segmentations").await;
    let mall = json_ok(mall).await["segmentations"][0]["active_run_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The RFM walkthrough's data and a four-segment run with a fixed k (no "Choosing k").
    let gz = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/data/online_retail.csv.gz"
    ))
    .unwrap();
    let mut csv = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut csv).unwrap();
    let imported = app
        .client
        .post(app.url("/v1/orders/import"))
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    json_ok(imported).await;
    json_ok(app.post_json("/v1/rfm/refresh", &json!(null)).await).await;
    let rfm = app
        .create_segmentation(json!({
            "name": "RFM",
            "config": {"features": ["rfm_recency_days", "rfm_frequency", "rfm_monetary"],
                       "log1p": ["rfm_recency_days", "rfm_frequency", "rfm_monetary"],
                       "algorithm": {"type": "kmeans", "k": 4}}
        }))
        .await;
    let rfm = app.run_to_success(&rfm).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The smallest text each chart of each run is drawn with.
    let mut smallest = std::collections::HashMap::new();
    for run in [&mall, &rfm] {
        for chart in ["scatter", "elbow", "segments"] {
            let response = app.get(&format!("/v1/runs/{run}/charts/{chart}.svg")).await;
            if response.status() == 200 {
                let svg = response.text().await.unwrap();
                smallest.insert(
                    format!("/v1/runs/{run}/charts/{chart}.svg"),
                    smallest_font(&svg),
                );
            }
        }
    }
    assert!(
        !smallest.contains_key(&format!("/v1/runs/{rfm}/charts/elbow.svg")),
        "a run with a fixed k has no elbow chart"
    );

    let browser = Browser::open(&driver).await;
    browser.sign_in(&app).await;
    for width in [1400, 1920] {
        // Tall enough that a screenshot shows the whole page.
        browser.resize(width, 2600).await;
        for (run, name, rows) in [(&mall, "mall", 5), (&rfm, "rfm", 4)] {
            browser.go(&app.url(&format!("/#/runs/{run}"))).await;
            browser
                .wait_for(
                    "the run page's profiles and charts",
                    &format!(
                        "return document.querySelectorAll('#profile-table tbody tr').length === {rows} && \
                         [...document.querySelectorAll('img.chart-image')].length > 1 && \
                         [...document.querySelectorAll('img.chart-image')].every(i => i.dataset.loaded === 'true')"
                    ),
                )
                .await;
            // Each chart as displayed: its scale, and the card around it.
            let charts = browser
                .script(
                    "return [...document.querySelectorAll('img.chart-image')].map(i => { \
                       const card = i.closest('.card').getBoundingClientRect(); \
                       return [i.getAttribute('src'), i.getBoundingClientRect().width / i.naturalWidth, \
                               card.width, i.getBoundingClientRect().width]; })",
                )
                .await;
            for chart in charts.as_array().unwrap() {
                let src = chart[0].as_str().unwrap();
                let scale = chart[1].as_f64().unwrap();
                let font = *smallest
                    .get(src)
                    .unwrap_or_else(|| panic!("{src} is not among {smallest:?}"));
                assert!(
                    font * scale >= 12.0 - 1e-9,
                    "at {width} px, {src} draws text at {font} px × {scale:.2} = {:.1} px",
                    font * scale
                );
                // The card fits its chart: no empty space where another chart would be.
                let (card, image) = (chart[2].as_f64().unwrap(), chart[3].as_f64().unwrap());
                assert!(
                    card - image < 60.0,
                    "at {width} px the card of {src} is {card} px for a {image} px chart"
                );
            }
            // The profile table stands apart from the cards under it.
            let gap = browser
                .script(
                    "return document.querySelector('.charts').getBoundingClientRect().top - \
                     document.getElementById('profile-table').getBoundingClientRect().bottom",
                )
                .await;
            assert!(gap.as_f64().unwrap() >= 12.0, "at {width} px: {gap} px");
            // The lift's colours say which end is which.
            let key = browser
                .script("return document.querySelector('.lift-key').innerText")
                .await;
            let key = key.as_str().unwrap();
            assert!(key.contains("below") && key.contains("above"), "{key}");
            browser.keep(&format!("dashboard-{name}-{width}")).await;
        }
    }
    browser.resize(1400, 1200).await;

    // The segmentation page names the algorithm in words.
    let mall_segmentation =
        json_ok(app.get(&format!("/v1/runs/{mall}")).await).await["segmentation_id"]
            .as_str()
            .unwrap()
            .to_owned();
    browser
        .go(&app.url(&format!("/#/segmentations/{mall_segmentation}")))
        .await;
    browser
        .wait_for(
            "the algorithm",
            "return !!document.getElementById('algorithm')",
        )
        .await;
    let algorithm = browser
        .script("return document.getElementById('algorithm').innerText")
        .await;
    assert!(
        algorithm
            .as_str()
            .unwrap()
            .contains("K-Means, k chosen in 2–10 by silhouette"),
        "{algorithm}"
    );

    // A segment's members, a page at a time, with the CSV of all of them.
    let profiles = json_ok(app.get(&format!("/v1/runs/{mall}/segments")).await).await;
    let largest = profiles["segments"]
        .as_array()
        .unwrap()
        .iter()
        .max_by_key(|s| s["size"].as_u64())
        .unwrap()
        .clone();
    let (segment, size) = (
        largest["segment_id"].as_i64().unwrap(),
        largest["size"].as_u64().unwrap(),
    );
    assert!(size > 50, "{largest}");
    browser
        .go(&app.url(&format!("/#/runs/{mall}/segments/{segment}")))
        .await;
    browser
        .wait_for(
            "the first page of members",
            "return document.querySelectorAll('#members tbody tr').length === 50",
        )
        .await;
    let csv = browser
        .script("return document.getElementById('members-csv').getAttribute('href')")
        .await;
    assert_eq!(
        csv,
        format!("/v1/runs/{mall}/assignments.csv?segment={segment}")
    );
    browser.keep("dashboard-members-1400").await;
    browser
        .script("document.getElementById('next-page').click(); return true")
        .await;
    browser
        .wait_for(
            "the second page",
            &format!(
                "return document.querySelectorAll('#members tbody tr').length === {} && \
                 !document.getElementById('next-page')",
                size - 50
            ),
        )
        .await;

    // A customer: found by id, with attributes and the segment now and in each kept run.
    browser.go(&app.url("/#/customers")).await;
    browser
        .wait_for(
            "the search",
            "return !!document.getElementById('customer-id')",
        )
        .await;
    browser
        .script(
            "document.getElementById('customer-id').value = '0002'; \
             document.querySelector('#customer-search button').click(); return true",
        )
        .await;
    browser
        .wait_for(
            "the customer page",
            "return document.querySelectorAll('#attributes tr').length === 4 && \
             !!document.querySelector('#segments-of-customer .current a')",
        )
        .await;
    let page = browser
        .script("return document.getElementById('view').innerText")
        .await;
    let page = page.as_str().unwrap();
    let lookup = json_ok(
        app.get(&format!(
            "/v1/segmentations/{mall_segmentation}/customers/0002"
        ))
        .await,
    )
    .await;
    let label = lookup["current"]["label"].as_str().unwrap();
    assert!(labels.iter().any(|l| l == label));
    for needle in ["Customer 0002", "spending_score", "81", label, "Now:"] {
        assert!(page.contains(needle), "{needle} in {page}");
    }
    browser.keep("dashboard-customer-1400").await;
    // An unknown id says so on the search form.
    browser.go(&app.url("/#/customers/nobody")).await;
    browser
        .wait_for(
            "the refusal",
            "return (document.querySelector('#customer-search .error')?.innerText || '').includes('nobody')",
        )
        .await;
    browser.close().await;
}

/// A segmentation over gender too: the run page's profile table gives each segment's most
/// common gender, its share and lift.
#[tokio::test]
#[ignore = "needs Chromium and chromedriver: apt install chromium chromium-driver (run with --include-ignored)"]
async fn a_browser_sees_each_segments_gender() {
    let driver = Driver::required().await;
    let app = spawn_app().await;
    app.import_mall().await;
    let segmentation = app
        .create_segmentation(json!({
            "name": "Mall: gender, age, income and spend",
            "config": {"features": ["age", "annual_income_k", "spending_score"],
                       "categorical": ["gender"], "category_weight": 2,
                       "algorithm": {"type": "kmeans", "k": 6}}
        }))
        .await;
    let run = app.run_to_success(&segmentation).await;
    let id = run["id"].as_str().unwrap();
    let browser = Browser::open(&driver).await;
    browser.sign_in(&app).await;
    browser.go(&app.url(&format!("/#/runs/{id}"))).await;
    browser
        .wait_for(
            "the profiles with a gender column",
            "return document.querySelectorAll('#profile-table tbody tr td.category').length === 6",
        )
        .await;
    let shown = browser
        .script(
            "return [[...document.querySelectorAll('#profile-table thead th')].map(th => th.innerText), \
             [...document.querySelectorAll('#profile-table tbody tr td.category')].map(td => td.innerText)]",
        )
        .await;
    let (headers, cells): (Vec<String>, Vec<String>) = serde_json::from_value(shown).unwrap();
    assert!(
        headers.iter().any(|h| h.starts_with("gender")),
        "{headers:?}"
    );
    // Weighed at 2, every segment is of one gender: 100% Female ×1.79 or 100% Male ×2.27.
    for cell in &cells {
        assert!(
            cell.starts_with("100% Female ×1.79") || cell.starts_with("100% Male ×2.27"),
            "{cells:?}"
        );
    }
}

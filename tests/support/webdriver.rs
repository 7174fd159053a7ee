//! A small W3C WebDriver client for the browser test: Debian's `chromedriver`
//! driving headless `chromium`, spoken to over HTTP with the product's own client.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The key W3C WebDriver uses for an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

fn find_program(names: &[&str], env: &str) -> String {
    if let Ok(path) = std::env::var(env) {
        return path;
    }
    for name in names {
        for dir in
            std::env::var("PATH").unwrap_or_default().split(':').chain(["/usr/bin", "/usr/lib/chromium"])
        {
            let path = std::path::Path::new(dir).join(name);
            if path.exists() {
                return path.display().to_string();
            }
        }
    }
    panic!(
        "{} not found: the browser test needs Debian's chromium and chromium-driver \
         (apt-get install chromium chromium-driver), or set {env}",
        names[0]
    );
}

impl Browser {
    /// Starts chromedriver on a free port and a headless Chromium session.
    pub fn start() -> Browser {
        let driver_path = find_program(&["chromedriver"], "CHROMEDRIVER");
        let chromium = find_program(&["chromium", "chromium-browser"], "CHROMIUM");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new(&driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {driver_path}: {e}"));
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let client = leadsprint::http::http(Duration::from_secs(60)).unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let mut browser = Browser { driver, base, session: String::new(), client, runtime };
        browser.wait_ready();
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1440,1100", "--lang=en-US"],
            },
        }}});
        let created = browser.call("POST", "/session", capabilities);
        browser.session = created["sessionId"].as_str().expect("a session id").to_owned();
        browser
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let status = self.runtime.block_on(async {
                let r = self.client.get(format!("{}/status", self.base)).send().await.ok()?;
                r.json::<Value>().await.ok()
            });
            if status.is_some_and(|s| s["value"]["ready"] == true) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("chromedriver did not become ready");
    }

    fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.base);
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let answer: Value = self.runtime.block_on(async {
            let mut request = self.client.request(method.clone(), &url);
            if method != reqwest::Method::GET {
                request = request.json(&body);
            }
            request.send().await.expect("webdriver request").json().await.expect("webdriver JSON")
        });
        if let Some(error) = answer["value"]["error"].as_str() {
            panic!("webdriver {path}: {error}: {}", answer["value"]["message"]);
        }
        answer["value"].clone()
    }

    fn session_call(&self, method: &str, path: &str, body: Value) -> Value {
        self.call(method, &format!("/session/{}{path}", self.session), body)
    }

    pub fn open(&self, url: &str) {
        self.session_call("POST", "/url", json!({ "url": url }));
    }

    /// Runs `script` (a function body; `arguments[i]` are `args`) and returns its value.
    pub fn eval(&self, script: &str, args: Value) -> Value {
        self.session_call("POST", "/execute/sync", json!({ "script": script, "args": args }))
    }

    /// Waits until `script` returns something truthy; returns it.
    pub fn wait_for(&self, what: &str, script: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.eval(script, json!([]));
            let truthy = !matches!(&value, Value::Null | Value::Bool(false))
                && value != json!(0)
                && value != json!("");
            if truthy {
                return value;
            }
            if Instant::now() > deadline {
                self.screenshot("target/browser/failure.png");
                panic!("timed out waiting for {what} (screenshot: target/browser/failure.png)");
            }
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    fn element(&self, css: &str) -> String {
        let found = self.session_call("POST", "/element", json!({ "using": "css selector", "value": css }));
        found[ELEMENT].as_str().unwrap_or_else(|| panic!("no element {css}: {found}")).to_owned()
    }

    /// Clicks the element `css` finds, as a user would (WebDriver moves the pointer).
    pub fn click(&self, css: &str) {
        let id = self.element(css);
        self.session_call("POST", &format!("/element/{id}/click"), json!({}));
    }

    /// Types `text` into the element `css` finds (for a file input: its path).
    pub fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css);
        self.session_call("POST", &format!("/element/{id}/value"), json!({ "text": text }));
    }

    pub fn clear(&self, css: &str) {
        let id = self.element(css);
        self.session_call("POST", &format!("/element/{id}/clear"), json!({}));
    }

    /// The element's rendered text.
    pub fn text(&self, css: &str) -> String {
        let id = self.element(css);
        self.session_call("GET", &format!("/element/{id}/text"), Value::Null)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Forgets every cookie of the current site.
    pub fn delete_cookies(&self) {
        self.session_call("DELETE", "/cookie", json!({}));
    }

    /// Saves a PNG of the window to `path` (relative to the crate root).
    pub fn screenshot(&self, path: &str) {
        use base64::Engine;
        let shot = self.session_call("GET", "/screenshot", Value::Null);
        let png =
            base64::engine::general_purpose::STANDARD.decode(shot.as_str().unwrap_or_default()).unwrap();
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // While a failed test unwinds, only stop the driver: a second panic would abort.
        if !self.session.is_empty() && !std::thread::panicking() {
            let url = format!("{}/session/{}", self.base, self.session);
            let _ = self.runtime.block_on(async { self.client.delete(url).send().await });
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

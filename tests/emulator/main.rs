//! End-to-end tests of the provider emulator over real HTTP (reqwest against a running emulator).

mod autocalls;
mod bolna;
mod faults;

use reqwest::header::HeaderMap;
use serde_json::Value;
use siptrunk_operator::emulator::{EmulatorConfig, Flavor, ProviderEmulator};

/// A thin JSON client for one token.
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

/// One answer: status, parsed body (`Value::Null` if not JSON), headers, raw text.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: HeaderMap,
    pub text: String,
}

impl Api {
    pub fn new(emu: &ProviderEmulator) -> Self {
        Self::with_token(emu, &emu.token())
    }

    pub fn with_token(emu: &ProviderEmulator, token: &str) -> Self {
        Api { http: reqwest::Client::new(), base: emu.base_url(), token: token.to_owned() }
    }

    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(&self.token)
            .header("accept", "application/json")
    }

    pub async fn send(&self, rb: reqwest::RequestBuilder) -> Reply {
        let resp = rb.send().await.expect("request reaches the emulator");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body is readable");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, body, headers, text }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.request(reqwest::Method::GET, path)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(self.request(reqwest::Method::DELETE, path)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(self.request(reqwest::Method::POST, path).json(&body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.send(self.request(reqwest::Method::PUT, path).json(&body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.send(self.request(reqwest::Method::PATCH, path).json(&body)).await
    }
}

pub async fn start(flavor: Flavor) -> ProviderEmulator {
    start_with(EmulatorConfig::new(flavor).with_token("token-a").with_token("token-b")).await
}

pub async fn start_with(cfg: EmulatorConfig) -> ProviderEmulator {
    ProviderEmulator::start(cfg).await.expect("emulator starts")
}

/// Sorted keys of a JSON object.
pub fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
    k.sort();
    k
}

/// A verbatim JSON example from the reference pages (tests/emulator/fixtures/).
pub fn fixture(text: &str) -> Value {
    serde_json::from_str(text).expect("fixture is JSON")
}

/// `2026-03-31T10:00:00.000000Z`
pub fn is_micros_timestamp(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        chrono::DateTime::parse_from_rfc3339(s).is_ok() && s.len() == 27 && s.ends_with('Z') && &s[19..20] == "."
    })
}

//! How a cluster drill reaches Prometheus, Alertmanager and the Pushgateway: by URL (with an
//! optional bearer token read from a file and extra CA certificates, for hosted ones) or through
//! the Kubernetes API server's service proxy with the kubeconfig's own credentials, so a drill
//! from a laptop needs no port-forward. Tokens never appear in messages.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::cli::ServiceRef;
use crate::cluster::Cluster;

/// Every request to Prometheus, Alertmanager or the Pushgateway gives up after this long.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// One HTTP service the drill reads (a handful per run: their size does not matter).
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
pub enum Endpoint {
    Direct {
        http: reqwest::Client,
        base: String,
        token: Option<String>,
    },
    Proxy {
        cluster: Cluster,
        service: ServiceRef,
    },
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// A reqwest client trusting the system's roots and, when given, the certificates of `ca_file`.
pub fn http_client(ca_file: Option<&Path>) -> Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder().timeout(REQUEST_TIMEOUT);
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("{}: not PEM certificates: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!("{}: no PEM certificate in it", path.display()));
        }
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    b.build().map_err(|e| format!("cannot build an HTTP client: {e}"))
}

/// Reads a bearer token file (trailing newline dropped); an empty file is an error.
pub fn read_token(path: &Path) -> Result<String, String> {
    let t = std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read the token: {e}", path.display()))?;
    let t = t.trim().to_string();
    if t.is_empty() {
        return Err(format!("{}: the token file is empty", path.display()));
    }
    Ok(t)
}

/// A URL without its `user:password@` part and query (for messages).
pub fn shown_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.to_string().trim_end_matches('/').to_string()
        }
        Err(_) => "(an unparsable URL)".into(),
    }
}

impl Endpoint {
    pub fn direct(http: reqwest::Client, base: &str, token: Option<String>) -> Result<Endpoint, String> {
        let parsed = reqwest::Url::parse(base).map_err(|e| format!("{base:?} is not a URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("{}: only http and https URLs are supported", shown_url(base)));
        }
        Ok(Endpoint::Direct {
            http,
            base: base.trim_end_matches('/').to_string(),
            token,
        })
    }

    pub fn proxy(cluster: Cluster, service: ServiceRef) -> Endpoint {
        Endpoint::Proxy { cluster, service }
    }

    /// Where it is, for messages (no credentials).
    pub fn describe(&self) -> String {
        match self {
            Endpoint::Direct { base, .. } => shown_url(base),
            Endpoint::Proxy { service, cluster } => {
                format!("service {service} through the API server {}", cluster.server)
            }
        }
    }

    /// `GET path` (with query), as text.
    pub async fn get_text(&self, path: &str) -> Result<String, String> {
        match self {
            Endpoint::Direct { http, base, token } => {
                let mut req = http.get(format!("{base}{path}"));
                if let Some(t) = token {
                    req = req.bearer_auth(t);
                }
                let r = req
                    .send()
                    .await
                    .map_err(|e| format!("{}: {}", self.describe(), plain(e)))?;
                let status = r.status();
                let body = r
                    .text()
                    .await
                    .map_err(|e| format!("{}: {}", self.describe(), plain(e)))?;
                if !status.is_success() {
                    return Err(format!(
                        "{}{}: HTTP {status}: {}",
                        self.describe(),
                        strip_query(path),
                        first_line(&body)
                    ));
                }
                Ok(body)
            }
            Endpoint::Proxy { cluster, service } => {
                let req = http::Request::get(format!("{}{path}", service.proxy_path()))
                    .body(Vec::new())
                    .map_err(|e| e.to_string())?;
                cluster
                    .call("the service proxy", cluster.client.request_text(req))
                    .await
                    .map_err(|e| format!("{}{}: {e}", self.describe(), strip_query(path)))
            }
        }
    }

    /// `GET path` as JSON.
    pub async fn get_json(&self, path: &str) -> Result<Value, String> {
        let text = self.get_text(path).await?;
        serde_json::from_str(&text).map_err(|e| format!("{}{}: not JSON: {e}", self.describe(), strip_query(path)))
    }

    /// A Prometheus API call (`/api/v1/...`): the `data` of a `status: success` answer.
    pub async fn prometheus(&self, path: &str) -> Result<Value, String> {
        let mut v = self.get_json(path).await?;
        if v["status"] != "success" {
            return Err(format!(
                "{}{}: {}",
                self.describe(),
                strip_query(path),
                v["error"].as_str().unwrap_or("no success status")
            ));
        }
        Ok(v["data"].take())
    }

    /// An instant query.
    pub async fn query(&self, promql: &str) -> Result<Vec<Value>, String> {
        let path = format!("/api/v1/query?query={}", encode(promql));
        let data = self.prometheus(&path).await?;
        Ok(data["result"].as_array().cloned().unwrap_or_default())
    }

    /// `PUT`/`POST` a body (the Pushgateway); direct URLs only.
    pub async fn send(&self, method: reqwest::Method, path: &str, body: String) -> Result<(), String> {
        match self {
            Endpoint::Direct { http, base, token } => {
                let mut req = http.request(method, format!("{base}{path}")).body(body);
                req = req.header("Content-Type", "text/plain; version=0.0.4");
                if let Some(t) = token {
                    req = req.bearer_auth(t);
                }
                let r = req
                    .send()
                    .await
                    .map_err(|e| format!("{}: {}", self.describe(), plain(e)))?;
                if r.status().is_success() {
                    Ok(())
                } else {
                    let status = r.status();
                    let body = r.text().await.unwrap_or_default();
                    Err(format!(
                        "{}{path}: HTTP {status}: {}",
                        self.describe(),
                        first_line(&body)
                    ))
                }
            }
            Endpoint::Proxy { .. } => Err("pushing through the service proxy is not supported".into()),
        }
    }
}

fn strip_query(path: &str) -> &str {
    path.split('?').next().unwrap_or(path)
}

fn first_line(s: &str) -> String {
    let l = s.lines().next().unwrap_or("").trim();
    l.chars().take(200).collect()
}

/// A reqwest error without the URL it carries (which may hold a query or credentials).
fn plain(e: reqwest::Error) -> String {
    crate::cluster::transport_reason(&e.without_url())
}

/// Percent-encodes a query parameter value.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Prometheus reached through the API server's service proxy: the request goes to the
    /// proxy path of the Service, with the kubeconfig's credentials; the API server answers as
    /// a wiremock stand-in here (a real one refuses to proxy to loopback endpoints).
    #[tokio::test]
    async fn the_service_proxy_path_and_credentials() {
        use wiremock::matchers::{header, method, path};
        use wiremock::{Mock, MockServer, ResponseTemplate};
        let _ = rustls::crypto::ring::default_provider().install_default();
        let api = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(
                "/api/v1/namespaces/monitoring/services/https:prometheus-operated:9090/proxy/api/v1/status/buildinfo",
            ))
            .and(header("authorization", "Bearer kube-token"))
            .respond_with(
                ResponseTemplate::new(200).set_body_string(r#"{"status":"success","data":{"version":"2.42.0"}}"#),
            )
            .expect(1)
            .mount(&api)
            .await;
        let mut config = kube::Config::new(api.uri().parse().unwrap());
        config.auth_info.token = Some(secrecy::SecretString::from("kube-token".to_string()));
        let client = kube::Client::try_from(config).unwrap();
        let cluster = Cluster {
            context: "test".into(),
            server: api.uri(),
            client: client.clone(),
            watch_client: client,
            default_namespace: "default".into(),
            timeout: Some(Duration::from_secs(5)),
        };
        let service = crate::cli::parse_service_ref("monitoring/https:prometheus-operated:9090").unwrap();
        let e = Endpoint::proxy(cluster, service);
        let data = e.prometheus("/api/v1/status/buildinfo").await.unwrap();
        assert_eq!(data["version"], "2.42.0");
        assert!(
            e.describe()
                .contains("service monitoring/https:prometheus-operated:9090"),
            "{}",
            e.describe()
        );
    }

    /// A hosted Prometheus by URL: its bearer token is sent and never shown in errors.
    #[tokio::test]
    async fn bearer_tokens_are_sent_and_never_shown() {
        use wiremock::matchers::{header, method};
        use wiremock::{Mock, MockServer, ResponseTemplate};
        let _ = rustls::crypto::ring::default_provider().install_default();
        let prom = MockServer::start().await;
        Mock::given(method("GET"))
            .and(header("authorization", "Bearer s3cr3t"))
            .respond_with(ResponseTemplate::new(500).set_body_string("boom"))
            .mount(&prom)
            .await;
        let e = Endpoint::direct(http_client(None).unwrap(), &prom.uri(), Some("s3cr3t".into())).unwrap();
        let err = e.get_json("/api/v1/alerts").await.unwrap_err();
        assert!(err.contains("HTTP 500") && !err.contains("s3cr3t"), "{err}");
    }

    #[test]
    fn urls_lose_credentials_and_queries_in_messages() {
        assert_eq!(
            shown_url("https://u:secret@prom.example.com/api?x=1"),
            "https://prom.example.com/api"
        );
        assert_eq!(encode("a{b=\"c\"} > 1"), "a%7Bb%3D%22c%22%7D%20%3E%201");
    }
}

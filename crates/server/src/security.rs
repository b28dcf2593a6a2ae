//! Which host names the server answers to, and the security headers of every response.
//!
//! A web page on another site can make a browser send requests to a server on this computer
//! by pointing its own name at 127.0.0.1 (DNS rebinding); such requests carry that site's name
//! in `Host`. Without accounts (single-user mode) only loopback names are answered; with
//! accounts, the names of `--public-url` (when given) and loopback names. Other names get 421.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::{ApiError, AppState};

/// Parses `--trusted-proxies`: CIDRs (`10.0.0.0/8`) or single addresses (`127.0.0.1`).
pub fn trusted_proxies(list: &[String]) -> Result<Vec<ipnet::IpNet>, String> {
    list.iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<ipnet::IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    format!(
                        "--trusted-proxies {s:?}: give the proxies' addresses as CIDRs, e.g. \
                         10.0.0.0/8,127.0.0.1"
                    )
                })
        })
        .collect()
}

/// Who is calling, as far as this server can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client {
    /// The connection's address, or behind a trusted proxy the address it forwarded for.
    pub ip: std::net::IpAddr,
    /// The request came over HTTPS (said by a trusted proxy's `X-Forwarded-Proto`).
    pub https: bool,
}

/// The client of a request from `peer`: `X-Forwarded-For` and `X-Forwarded-Proto` count only
/// when `peer` is one of the `trusted` proxies; then the client is the rightmost forwarded
/// address that is not itself a trusted proxy (the leftmost ones may be made up by anyone).
pub fn client(
    trusted: &[ipnet::IpNet],
    peer: Option<std::net::IpAddr>,
    headers: &axum::http::HeaderMap,
) -> Client {
    let unspecified = std::net::IpAddr::from([0, 0, 0, 0]);
    let peer_ip = peer.unwrap_or(unspecified);
    let is_trusted = |ip: &std::net::IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer_ip) {
        return Client {
            ip: peer_ip,
            https: false,
        };
    }
    let forwarded: Vec<std::net::IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    let ip = forwarded
        .iter()
        .rev()
        .find(|a| !is_trusted(a))
        .or(forwarded.first())
        .copied()
        .unwrap_or(peer_ip);
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
    Client { ip, https }
}

/// The client of the request with these parts (the connection's address is in its
/// extensions).
pub fn client_of(
    s: &AppState,
    extensions: &axum::http::Extensions,
    headers: &axum::http::HeaderMap,
) -> Client {
    let peer = extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    client(&s.trusted_proxies, peer, headers)
}

/// Content Security Policy of every response: scripts only from this server (no inline
/// scripts, no eval), no framing by other pages.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; object-src 'none'; \
     base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

/// The host name of an authority (`name`, `name:port`, `[v6]`, `[v6]:port`), lower-cased.
pub fn host_name(authority: &str) -> String {
    let a = authority.trim();
    let a = a.rsplit_once('@').map_or(a, |(_, h)| h);
    let name = if let Some(rest) = a.strip_prefix('[') {
        rest.split_once(']').map_or(rest, |(h, _)| h)
    } else {
        a.split_once(':').map_or(a, |(h, _)| h)
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Whether a host name always means this computer.
pub fn is_loopback_name(name: &str) -> bool {
    matches!(name, "localhost" | "127.0.0.1" | "::1")
}

/// The host names of `--public-url` values (`https://histo.lab.example/`, `histo.lab.example`).
pub fn public_hosts(urls: &[String]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for u in urls.iter().map(|u| u.trim()).filter(|u| !u.is_empty()) {
        let rest = u.split_once("://").map_or(u, |(_, r)| r);
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let name = host_name(authority);
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(format!(
                "--public-url {u:?} names no host; give the address people open, e.g. \
                 https://histoscore.lab.example"
            ));
        }
        out.push(name);
    }
    Ok(out)
}

/// Answers 421 to requests that name a host this server does not serve.
pub async fn host_guard(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.to_string()));
    // A client that names no host (an HTTP/1.0 health probe) is not a browser page.
    let Some(host) = host else {
        return next.run(req).await;
    };
    let name = host_name(&host);
    if is_loopback_name(&name) {
        return next.run(req).await;
    }
    let accounts = match s.accounts.enabled(&s.store).await {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let allowed = accounts && (s.public_hosts.is_empty() || s.public_hosts.contains(&name));
    if allowed {
        return next.run(req).await;
    }
    let detail = if accounts {
        format!(
            "this server answers to {} (--public-url), not to {name:?}",
            s.public_hosts.join(", ")
        )
    } else {
        format!(
            "without accounts this server answers only to localhost, 127.0.0.1 and [::1], not \
             to {name:?}; open it as http://localhost:PORT, or create accounts \
             (histoscore user add NAME --role admin) and set --public-url"
        )
    };
    ApiError::new(
        StatusCode::MISDIRECTED_REQUEST,
        "misdirected_request",
        detail,
    )
    .into_response()
}

/// Adds the security headers to every response.
pub async fn headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
    ] {
        h.entry(name).or_insert(HeaderValue::from_static(value));
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names() {
        assert_eq!(host_name("localhost:8000"), "localhost");
        assert_eq!(host_name("127.0.0.1"), "127.0.0.1");
        assert_eq!(host_name("[::1]:8000"), "::1");
        assert_eq!(host_name("[::1]"), "::1");
        assert_eq!(host_name("Evil.Example.:80"), "evil.example");
        assert!(is_loopback_name(&host_name("[::1]:1")));
        assert!(is_loopback_name(&host_name("LOCALHOST")));
        assert!(!is_loopback_name(&host_name("localhost.evil.example")));
        assert!(!is_loopback_name(&host_name("127.0.0.1.nip.io")));
    }

    #[test]
    fn public_url_names() {
        let hosts = public_hosts(&[
            "https://Histo.Lab.example/".into(),
            "http://10.0.0.5:8000".into(),
            "scores.lab.example".into(),
        ])
        .unwrap();
        assert_eq!(
            hosts,
            ["histo.lab.example", "10.0.0.5", "scores.lab.example"]
        );
        assert!(public_hosts(&["https:///x".into()]).is_err());
    }
}

#[cfg(test)]
mod proxy_tests {
    use super::{client, trusted_proxies};
    use axum::http::{HeaderMap, HeaderValue};

    fn headers(xff: &str, proto: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_str(xff).unwrap());
        h.insert("x-forwarded-proto", HeaderValue::from_str(proto).unwrap());
        h
    }

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() {
        let trusted = trusted_proxies(&["10.0.0.0/8".into(), "127.0.0.1".into()]).unwrap();
        let h = headers("203.0.113.7, 10.1.2.3", "https");
        // Through two trusted proxies: the client is the first untrusted address from the right.
        let c = client(&trusted, Some("10.9.9.9".parse().unwrap()), &h);
        assert_eq!(c.ip.to_string(), "203.0.113.7");
        assert!(c.https);
        // A forged chain: only the address the trusted proxy saw counts.
        let forged = headers("1.1.1.1, 198.51.100.2", "https");
        let c = client(&trusted, Some("127.0.0.1".parse().unwrap()), &forged);
        assert_eq!(c.ip.to_string(), "198.51.100.2");
        // From anyone else the headers are ignored.
        let c = client(&trusted, Some("192.0.2.1".parse().unwrap()), &h);
        assert_eq!(c.ip.to_string(), "192.0.2.1");
        assert!(!c.https);
        // No proxies configured: never trusted.
        let c = client(&[], Some("127.0.0.1".parse().unwrap()), &h);
        assert_eq!(c.ip.to_string(), "127.0.0.1");
        assert!(!c.https);
        assert!(trusted_proxies(&["not-an-address".into()]).is_err());
    }
}

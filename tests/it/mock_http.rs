//! A small HTTP server on `127.0.0.1` that stands in for a remote API (GitHub, GitLab) in
//! tests: it records every request (method, path, query, headers, body) and answers from a
//! script. Only remote HTTP APIs are ever replaced this way (HELPERS.md); the tests then assert
//! the recorded requests field by field.
//!
//! ```ignore
//! let mock = MockServer::start();
//! mock.on("POST", "/repos/o/r/check-runs", [Reply::json(201, json!({"id": 7}))]);
//! mock.on("PATCH", "/repos/o/r/check-runs/*", [Reply::json(500, json!({})), Reply::json(200, json!({"id": 7}))]);
//! // ... point the code under test at mock.url() ...
//! let sent = mock.requests_to("PATCH", "/repos/o/r/check-runs/7");
//! assert_eq!(sent[0].json()["output"]["title"], "...");
//! ```
//!
//! Routes match the method exactly and the path (without the query) segment by segment, where a
//! `*` segment matches any one segment. Scripted replies are served in order and the last one
//! repeats. A request that matches no route is answered `501` with a JSON message and is still
//! recorded, so a test can assert `mock.unmatched()` is empty.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path without the query string, e.g. `/repos/o/r/check-runs/7`.
    pub path: String,
    /// The raw query string without `?` (empty when there is none).
    pub query: String,
    /// Header names lower-cased, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Whether a route answered it (false: it got the `501` "no route" reply).
    pub matched: bool,
}

impl Recorded {
    /// The first value of a header (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON; panics with the method, path and body when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|err| {
            panic!(
                "{} {}: body is not JSON ({err}): {:?}",
                self.method,
                self.path,
                self.body_text()
            )
        })
    }

    /// The value of one query parameter (not percent-decoded: tests use plain values).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }
}

/// A scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(status: u16, value: serde_json::Value) -> Self {
        Reply {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: serde_json::to_vec(&value).expect("serialize reply"),
        }
    }

    pub fn text(status: u16, body: &str) -> Self {
        Reply {
            status,
            headers: vec![("Content-Type".into(), "text/plain".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    pub fn empty(status: u16) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

type Responder = Box<dyn FnMut(&Recorded) -> Reply + Send>;

struct Route {
    method: String,
    pattern: Vec<String>,
    respond: Responder,
}

#[derive(Default)]
struct State {
    routes: Vec<Route>,
    requests: Vec<Recorded>,
}

/// The server; it stops when dropped.
pub struct MockServer {
    server: Arc<tiny_http::Server>,
    state: Arc<Mutex<State>>,
    thread: Option<JoinHandle<()>>,
    url: String,
}

fn segments(path: &str) -> Vec<String> {
    path.trim_matches('/')
        .split('/')
        .map(str::to_owned)
        .collect()
}

fn path_matches(pattern: &[String], path: &str) -> bool {
    let got = segments(path);
    got.len() == pattern.len() && pattern.iter().zip(&got).all(|(p, g)| p == "*" || p == g)
}

impl MockServer {
    /// Starts on a free port of 127.0.0.1.
    pub fn start() -> Self {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind 127.0.0.1:0"));
        let port = server
            .server_addr()
            .to_ip()
            .expect("mock server listens on an IP address")
            .port();
        let state = Arc::new(Mutex::new(State::default()));
        let thread = {
            let server = Arc::clone(&server);
            let state = Arc::clone(&state);
            std::thread::spawn(move || serve(&server, &state))
        };
        MockServer {
            server,
            state,
            thread: Some(thread),
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Answers `method path` with `replies` in turn (the last one repeats). Registering the same
    /// method and path again replaces the earlier script.
    pub fn on(&self, method: &str, path: &str, replies: impl IntoIterator<Item = Reply>) {
        let mut queue: VecDeque<Reply> = replies.into_iter().collect();
        assert!(
            !queue.is_empty(),
            "mock route {method} {path} needs a reply"
        );
        self.on_fn(method, path, move |_| {
            if queue.len() > 1 {
                queue.pop_front().expect("non-empty")
            } else {
                queue.front().expect("non-empty").clone()
            }
        });
    }

    /// Answers `method path` with whatever `respond` computes from the request (for replies that
    /// depend on what was sent, e.g. echoing an id).
    pub fn on_fn(
        &self,
        method: &str,
        path: &str,
        respond: impl FnMut(&Recorded) -> Reply + Send + 'static,
    ) {
        let pattern = segments(path);
        let mut state = self.state.lock().expect("mock state");
        state
            .routes
            .retain(|r| !(r.method == method && r.pattern == pattern));
        state.routes.push(Route {
            method: method.to_owned(),
            pattern,
            respond: Box::new(respond),
        });
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().expect("mock state").requests.clone()
    }

    /// The requests with this method whose path matches `path` (`*` segments allowed).
    pub fn requests_to(&self, method: &str, path: &str) -> Vec<Recorded> {
        let pattern = segments(path);
        self.requests()
            .into_iter()
            .filter(|r| r.method == method && path_matches(&pattern, &r.path))
            .collect()
    }

    /// Requests no route answered (they got `501`).
    pub fn unmatched(&self) -> Vec<Recorded> {
        self.requests().into_iter().filter(|r| !r.matched).collect()
    }

    /// Forgets the recorded requests (routes stay).
    pub fn clear_requests(&self) {
        self.state.lock().expect("mock state").requests.clear();
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(server: &tiny_http::Server, state: &Mutex<State>) {
    // `recv` returns an error once `unblock` is called from `Drop`.
    while let Ok(mut request) = server.recv() {
        let url = request.url().to_owned();
        let (path, query) = match url.split_once('?') {
            Some((p, q)) => (p.to_owned(), q.to_owned()),
            None => (url, String::new()),
        };
        let headers = request
            .headers()
            .iter()
            .map(|h| {
                (
                    h.field.as_str().as_str().to_ascii_lowercase(),
                    h.value.as_str().to_owned(),
                )
            })
            .collect();
        let mut body = Vec::new();
        let _ = request.as_reader().read_to_end(&mut body);
        let mut recorded = Recorded {
            method: request.method().as_str().to_owned(),
            path,
            query,
            headers,
            body,
            matched: false,
        };

        let reply = {
            let mut state = state.lock().expect("mock state");
            let route = state
                .routes
                .iter_mut()
                .find(|r| r.method == recorded.method && path_matches(&r.pattern, &recorded.path));
            let reply = match route {
                Some(route) => {
                    recorded.matched = true;
                    (route.respond)(&recorded)
                }
                None => Reply::json(
                    501,
                    serde_json::json!({
                        "message": format!("mock server: no route for {} {}", recorded.method, recorded.path)
                    }),
                ),
            };
            state.requests.push(recorded);
            reply
        };

        let mut response =
            tiny_http::Response::from_data(reply.body).with_status_code(reply.status);
        for (name, value) in &reply.headers {
            if let Ok(header) = tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()) {
                response.add_header(header);
            }
        }
        let _ = request.respond(response);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Minimal HTTP/1.1 client over a raw socket so the mock's own test needs no HTTP crate.
    fn send(url: &str, method: &str, path: &str, body: &str) -> (u16, String) {
        use std::io::Write;
        let addr = url.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nX-Test: yes\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap();
        let status = raw[9..12].parse().unwrap();
        let body = raw
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap();
        (status, body)
    }

    #[test]
    fn records_requests_and_serves_scripted_replies_in_order() {
        let mock = MockServer::start();
        mock.on(
            "PATCH",
            "/things/*",
            [
                Reply::json(500, json!({"n": 1})),
                Reply::json(200, json!({"n": 2})),
            ],
        );
        assert_eq!(
            send(mock.url(), "PATCH", "/things/7?x=1", r#"{"a":1}"#).0,
            500
        );
        let (status, body) = send(mock.url(), "PATCH", "/things/8", "{}");
        assert_eq!((status, body.as_str()), (200, r#"{"n":2}"#));
        // The last reply repeats.
        assert_eq!(send(mock.url(), "PATCH", "/things/9", "{}").0, 200);
        // No route: 501, still recorded.
        assert_eq!(send(mock.url(), "GET", "/other", "").0, 501);

        let all = mock.requests();
        assert_eq!(all.len(), 4);
        assert_eq!(all[0].method, "PATCH");
        assert_eq!(all[0].path, "/things/7");
        assert_eq!(all[0].query_param("x"), Some("1"));
        assert_eq!(all[0].header("x-test"), Some("yes"));
        assert_eq!(all[0].json(), json!({"a": 1}));
        assert_eq!(mock.requests_to("PATCH", "/things/*").len(), 3);
        assert_eq!(mock.requests_to("PATCH", "/things/8").len(), 1);
        let unmatched = mock.unmatched();
        assert_eq!(unmatched.len(), 1);
        assert_eq!(unmatched[0].path, "/other");
    }

    #[test]
    fn responders_see_the_request() {
        let mock = MockServer::start();
        mock.on_fn("POST", "/echo", |req| {
            Reply::json(201, json!({"got": req.json()["v"]}))
        });
        let (status, body) = send(mock.url(), "POST", "/echo", r#"{"v":"hi"}"#);
        assert_eq!(status, 201);
        assert_eq!(body, r#"{"got":"hi"}"#);
    }
}

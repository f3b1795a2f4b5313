//! The edge: GitHub's REST API through octocrab, with our own retries (reading GitHub's
//! rate-limit headers) and creates that are safe to retry.

use std::future::Future;
use std::time::Duration;

use octocrab::secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::RetryPolicy;
use crate::env_vars::ci;
use crate::text::truncate_chars;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ApiError {
    /// GitHub answered with an error status.
    Status { status: u16, message: String },
    /// GitHub's primary or secondary rate limit, still exhausted when the retries ran out: not a
    /// permission problem, whatever the status (403 or 429).
    RateLimited { status: u16, message: String },
    /// No answer: connection refused, timeout, bad URL.
    Transport(String),
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::Status { status, message } if message.is_empty() => {
                write!(f, "HTTP {status}")
            }
            ApiError::Status { status, message } => write!(f, "HTTP {status}: {message}"),
            ApiError::RateLimited { status, message } => write!(
                f,
                "GitHub's rate limit is exhausted (HTTP {status}: {message}); this is not a \
                 permission problem, a later run will publish again"
            ),
            ApiError::Transport(msg) => f.write_str(msg),
        }
    }
}

/// Whether an error response asks us to wait and retry, and for how long at least.
/// 5xx: yes. 429, or 403 with `retry-after`, an exhausted `x-ratelimit-remaining` or a
/// "rate limit" message (GitHub's secondary rate limits): yes. Any other 403: no — it is a
/// permission problem and retrying cannot fix it.
pub(super) fn retry_hint(
    status: u16,
    retry_after: Option<u64>,
    remaining_zero: bool,
    message: &str,
) -> Option<Option<Duration>> {
    let asked = retry_after.map(Duration::from_secs);
    if status >= 500 {
        return Some(asked);
    }
    let rate_limited = retry_after.is_some()
        || remaining_zero
        || message.to_ascii_lowercase().contains("rate limit");
    if status == 429 || (status == 403 && rate_limited) {
        return Some(asked);
    }
    None
}

/// The token as the value of an `Authorization` header, or why it cannot be one. Surrounding
/// whitespace (a trailing newline from a file or a secret) is already trimmed by the caller; a
/// control or non-ASCII character left inside would make the HTTP client panic.
pub(super) fn check_token(token: &SecretString) -> Result<(), String> {
    let secret = token.expose_secret();
    if secret.is_empty() {
        return Err("the GitHub token is empty".into());
    }
    if http::HeaderValue::from_str(&format!("Bearer {secret}")).is_err()
        || !secret.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(
            "the GitHub token holds a control, space or non-ASCII character, so it \
                    cannot be sent in an HTTP header (check how the secret was stored)"
                .into(),
        );
    }
    Ok(())
}

pub(super) struct Api {
    client: octocrab::Octocrab,
    retry: RetryPolicy,
}

impl Api {
    pub(super) fn new(
        api_url: &str,
        token: &SecretString,
        retry: RetryPolicy,
    ) -> Result<Api, String> {
        check_token(token)?;
        if !crate::publish::is_safe_api_url(api_url) {
            return Err(format!(
                "`{}` is `{api_url}`: the token is only sent over https (or plain http to this \
                 machine)",
                ci::GITHUB_API_URL
            ));
        }
        let client = octocrab::Octocrab::builder()
            .base_uri(api_url)
            .map_err(|e| format!("`{}` is not a URL (`{api_url}`): {e}", ci::GITHUB_API_URL))?
            .personal_token(token.clone())
            // Our own loop below retries, reading GitHub's rate-limit headers.
            .add_retry_config(octocrab::service::middleware::retry::RetryConfig::None)
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(Duration::from_secs(30)))
            .add_header(
                http::header::HeaderName::from_static("x-github-api-version"),
                "2022-11-28".to_owned(),
            )
            .build()
            .map_err(|e| format!("cannot set up the GitHub client: {e}"))?;
        Ok(Api { client, retry })
    }

    /// Sends one request that is safe to repeat (a read or an update), retrying on 5xx, rate
    /// limits and transport errors with exponential backoff. Returns the parsed JSON body of a
    /// 2xx answer.
    pub(super) async fn send(
        &self,
        method: &str,
        route: &str,
        body: Option<&Value>,
    ) -> Result<Value, ApiError> {
        self.create_or_send(method, route, body, || async { Ok(None) })
            .await
    }

    /// `POST`s a create. A create that failed with a 5xx or a timeout may still have committed on
    /// GitHub's side, so before each retry `made` looks for what the earlier try may have made
    /// and returns it instead of creating a duplicate.
    pub(super) async fn create<F, Fut>(
        &self,
        route: &str,
        body: &Value,
        made: F,
    ) -> Result<Value, ApiError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<Value>, ApiError>>,
    {
        self.create_or_send("POST", route, Some(body), made).await
    }

    async fn create_or_send<F, Fut>(
        &self,
        method: &str,
        route: &str,
        body: Option<&Value>,
        mut made: F,
    ) -> Result<Value, ApiError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<Value>, ApiError>>,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (err, hint) = match self.send_once(method, route, body).await {
                Ok(value) => return Ok(value),
                Err(failure) => failure,
            };
            let Some(delay) = self.delay_before_retry(attempt, hint) else {
                return Err(err);
            };
            eprintln!(
                "parallel-pytest: GitHub {method} {route}: {err}; retrying in {}s",
                delay.as_secs_f32()
            );
            tokio::time::sleep(delay).await;
            if let Ok(Some(existing)) = made().await {
                eprintln!("parallel-pytest: the earlier {method} {route} did go through");
                return Ok(existing);
            }
        }
    }

    /// How long to wait before try `attempt + 1`, or `None` to give up: the error is final, the
    /// tries are used up, or the wait (ours or GitHub's `retry-after`) is too long.
    fn delay_before_retry(&self, attempt: u32, hint: Option<Option<Duration>>) -> Option<Duration> {
        let wait = hint?;
        if attempt >= self.retry.attempts.max(1) {
            return None;
        }
        let backoff = self
            .retry
            .base_delay
            .saturating_mul(1 << (attempt - 1).min(16));
        let delay = wait.unwrap_or(backoff).max(backoff);
        (delay <= self.retry.max_delay).then_some(delay)
    }

    /// One try. `Err((error, Some(wait)))` when it is worth retrying (wait: what GitHub asked for).
    async fn send_once(
        &self,
        method: &str,
        route: &str,
        body: Option<&Value>,
    ) -> Result<Value, (ApiError, Option<Option<Duration>>)> {
        let response = match method {
            "GET" => self.client._get(route).await,
            "POST" => self.client._post(route, body).await,
            "PATCH" => self.client._patch(route, body).await,
            other => unreachable!("method {other} is not used"),
        };
        let response = match response {
            Ok(r) => r,
            Err(e) => return Err((ApiError::Transport(transport_message(&e)), Some(None))),
        };
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let retry_after = header("retry-after").and_then(|v| v.trim().parse::<u64>().ok());
        let remaining_zero = header("x-ratelimit-remaining").is_some_and(|v| v.trim() == "0");
        let text = self
            .client
            .body_to_string(response)
            .await
            .map_err(|e| (ApiError::Transport(transport_message(&e)), Some(None)))?;
        if (200..300).contains(&status) {
            if text.trim().is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_str(&text).map_err(|e| {
                (
                    ApiError::Transport(format!("HTTP {status} with a body that is not JSON: {e}")),
                    None,
                )
            });
        }
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("message")?.as_str().map(str::to_owned))
            .unwrap_or_else(|| truncate_chars(text.trim(), 200));
        let hint = retry_hint(status, retry_after, remaining_zero, &message);
        let err = if hint.is_some() && status < 500 {
            ApiError::RateLimited { status, message }
        } else {
            ApiError::Status { status, message }
        };
        Err((err, hint))
    }
}

/// octocrab's error with its source chain, on one line (never includes the token: octocrab keeps
/// it in a `SecretString`).
fn transport_message(err: &octocrab::Error) -> String {
    let mut msg = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        msg.push_str(&format!(": {s}"));
        source = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_that_cannot_be_a_header_are_refused_not_sent() {
        let ok = SecretString::from("ghs_abc123".to_owned());
        assert!(check_token(&ok).is_ok());
        for bad in ["ghs_a\nb", "ghs\u{1b}x", "tok én", "a\u{0}b", ""] {
            let err = check_token(&SecretString::from(bad.to_owned())).unwrap_err();
            assert!(!err.contains(bad) || bad.is_empty(), "{err}");
        }
    }
}

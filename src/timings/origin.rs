//! Which run wrote a timings store: `report` records it from its CI environment, so a store
//! found later (in the cache, a report artifact fetched through the API, the repository) says
//! where its numbers came from even when the API that delivered it does not (GitLab's
//! raw-artifact endpoint answers with the file only).
//!
//! ```json
//! "provenance": {"platform": "GitLab", "run_id": 1234, "job_id": 5678,
//!                "commit": "9f86d081884c", "ref": "main", "date": "2026-12-03T09:41:07Z"}
//! ```
//!
//! An optional field of the store: older stores load without it, and older releases ignore it.
//! A store comes from another run's cache or artifact, so every value is untrusted: each field
//! is checked on reading (ids are numbers, the commit is hex, the ref is a bounded git ref
//! name, the date is RFC 3339 and written back in UTC) and a field that fails is dropped, never
//! the store. Renderers still escape for their sink.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::env_vars::ci;

/// Longest ref kept (git itself has no limit; GitLab's branch names stop well before this).
pub const MAX_REF_BYTES: usize = 255;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunOrigin {
    /// `GitHub` or `GitLab`.
    pub platform: String,
    /// GitHub's workflow run id, GitLab's pipeline id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<u64>,
    /// GitLab's job id (GitHub Actions gives a job no numeric id in its environment).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<u64>,
    /// The full commit SHA, lower-case hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The branch or tag the run was for.
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// When `report` wrote the store, RFC 3339 in UTC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
}

impl RunOrigin {
    /// From the report job's CI variables (GitHub Actions, else GitLab CI); `None` elsewhere.
    /// `now` is the date to record.
    pub fn from_env(
        lookup: impl Fn(&str) -> Option<String>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<RunOrigin> {
        let get = |k: &str| lookup(k).map(|v| v.trim().to_owned());
        let date = Some(now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        if get(ci::GITHUB_ACTIONS).as_deref() == Some("true") {
            return Some(RunOrigin {
                platform: "GitHub".into(),
                run_id: get(ci::GITHUB_RUN_ID).as_deref().and_then(valid_id),
                job_id: None,
                commit: get(ci::GITHUB_SHA).as_deref().and_then(valid_commit),
                reference: get(ci::GITHUB_REF_NAME).as_deref().and_then(valid_ref),
                date,
            });
        }
        if get(ci::GITLAB_CI).as_deref() == Some("true") {
            return Some(RunOrigin {
                platform: "GitLab".into(),
                run_id: get(ci::CI_PIPELINE_ID).as_deref().and_then(valid_id),
                job_id: get(ci::CI_JOB_ID).as_deref().and_then(valid_id),
                commit: get(ci::CI_COMMIT_SHA).as_deref().and_then(valid_commit),
                reference: get(ci::CI_COMMIT_REF_NAME).as_deref().and_then(valid_ref),
                date,
            });
        }
        None
    }

    /// Read leniently from untrusted JSON: each field that fails its check is left out; `None`
    /// when not an object or no known platform.
    pub fn from_value(value: &Value) -> Option<RunOrigin> {
        let obj = value.as_object()?;
        let platform = valid_platform(obj.get("platform")?.as_str()?)?;
        let text = |k: &str| obj.get(k).and_then(Value::as_str);
        let id = |k: &str| match obj.get(k)? {
            Value::Number(n) => n.as_u64().filter(|n| *n > 0),
            Value::String(s) => valid_id(s),
            _ => None,
        };
        Some(RunOrigin {
            platform: platform.to_owned(),
            run_id: id("run_id"),
            job_id: id("job_id"),
            commit: text("commit").and_then(valid_commit),
            reference: text("ref").and_then(valid_ref),
            date: text("date").and_then(valid_date),
        })
    }

    /// Whether it says anything beyond the platform.
    pub fn is_empty(&self) -> bool {
        self.run_id.is_none()
            && self.job_id.is_none()
            && self.commit.is_none()
            && self.reference.is_none()
            && self.date.is_none()
    }
}

/// For `#[serde(deserialize_with)]` on an optional field: never fails the containing document.
pub fn lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Option<RunOrigin>, D::Error> {
    let value = Value::deserialize(d)?;
    Ok(RunOrigin::from_value(&value))
}

/// `GitHub` or `GitLab`, as spelled here.
pub fn valid_platform(s: &str) -> Option<&'static str> {
    match s {
        "GitHub" => Some("GitHub"),
        "GitLab" => Some("GitLab"),
        _ => None,
    }
}

/// A run, pipeline or job id: 1 to 20 ASCII digits, not zero.
pub fn valid_id(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u64>().ok().filter(|n| *n > 0)
}

/// A commit SHA: 7 to 64 hex digits (SHA-1 or SHA-256, full or abbreviated), lower-cased.
pub fn valid_commit(s: &str) -> Option<String> {
    let s = s.trim();
    ((7..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| s.to_ascii_lowercase())
}

/// A branch or tag name as `git check-ref-format` allows it (no controls, spaces, `~^:?*[\`,
/// `..`, `@{`, leading `-` or `/`), at most [`MAX_REF_BYTES`]. Backticks and `<>` are legal
/// ref characters: the renderers escape them.
pub fn valid_ref(s: &str) -> Option<String> {
    let ok = !s.is_empty()
        && s.len() <= MAX_REF_BYTES
        && !s.starts_with(['-', '/', '.'])
        && !s.ends_with(['/', '.'])
        && !s.ends_with(".lock")
        && !s.contains("..")
        && !s.contains("@{")
        && !s.contains("//")
        && s != "@"
        && !s
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || "~^:?*[\\".contains(c));
    ok.then(|| s.to_owned())
}

/// An RFC 3339 date, written back in UTC to the second.
pub fn valid_date(s: &str) -> Option<String> {
    if s.len() > 64 {
        return None;
    }
    let d = chrono::DateTime::parse_from_rfc3339(s.trim()).ok()?;
    Some(
        d.with_timezone(&chrono::Utc)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::parse_from_rfc3339("2026-12-03T09:41:07.25+00:00")
            .unwrap()
            .with_timezone(&chrono::Utc)
    }

    #[test]
    fn gitlab_job_environment() {
        let env = |k: &str| {
            match k {
                "GITLAB_CI" => Some("true"),
                "CI_PIPELINE_ID" => Some("1234"),
                "CI_JOB_ID" => Some("5678"),
                "CI_COMMIT_SHA" => Some("9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B"),
                "CI_COMMIT_REF_NAME" => Some("main"),
                _ => None,
            }
            .map(str::to_owned)
        };
        let o = RunOrigin::from_env(env, now()).unwrap();
        assert_eq!(
            serde_json::to_value(&o).unwrap(),
            json!({"platform": "GitLab", "run_id": 1234, "job_id": 5678,
                   "commit": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b", "ref": "main",
                   "date": "2026-12-03T09:41:07Z"})
        );
    }

    #[test]
    fn github_job_environment_and_nowhere() {
        let env = |k: &str| {
            match k {
                "GITHUB_ACTIONS" => Some("true"),
                "GITHUB_RUN_ID" => Some("42"),
                "GITHUB_SHA" => Some("abcdef1234567"),
                "GITHUB_REF_NAME" => Some("feature/x"),
                "CI_JOB_ID" => Some("9"),
                _ => None,
            }
            .map(str::to_owned)
        };
        let o = RunOrigin::from_env(env, now()).unwrap();
        assert_eq!(o.platform, "GitHub");
        assert_eq!(o.run_id, Some(42));
        assert_eq!(o.job_id, None);
        assert_eq!(o.reference.as_deref(), Some("feature/x"));
        assert_eq!(RunOrigin::from_env(|_| None, now()), None);
    }

    #[test]
    fn hostile_fields_are_dropped_one_by_one() {
        let v = json!({
            "platform": "GitLab",
            "run_id": "12; rm -rf /",
            "job_id": -3,
            "commit": "not hex at all",
            "ref": "main\u{1b}[31m\n::set-output",
            "date": "yesterday",
        });
        let o = RunOrigin::from_value(&v).unwrap();
        assert_eq!(
            o,
            RunOrigin {
                platform: "GitLab".into(),
                ..RunOrigin::default()
            }
        );
        assert!(o.is_empty());
        assert_eq!(RunOrigin::from_value(&json!({"platform": "Jenkins"})), None);
        assert_eq!(RunOrigin::from_value(&json!("GitLab")), None);
        let ok = RunOrigin::from_value(&json!({"platform": "GitHub", "run_id": "77",
            "date": "2026-12-03T10:41:07+01:00", "ref": "release/1.2"}))
        .unwrap();
        assert_eq!(ok.run_id, Some(77));
        assert_eq!(ok.date.as_deref(), Some("2026-12-03T09:41:07Z"));
        assert_eq!(ok.reference.as_deref(), Some("release/1.2"));
    }

    #[test]
    fn checks() {
        assert_eq!(valid_id("0"), None);
        assert_eq!(valid_id("123456789012345678901"), None);
        assert_eq!(valid_id("+5"), None);
        assert_eq!(valid_commit("abc"), None);
        assert_eq!(valid_commit(&"a".repeat(65)), None);
        for bad in [
            "", "a..b", "-x", "/x", "x/", "a b", "a~1", "a^", "a:b", "x.lock", "@", "a@{1}",
        ] {
            assert_eq!(valid_ref(bad), None, "{bad:?}");
        }
        assert_eq!(valid_ref(&"x".repeat(256)), None);
        assert_eq!(valid_ref("fix/`code`<b>").as_deref(), Some("fix/`code`<b>"));
    }
}

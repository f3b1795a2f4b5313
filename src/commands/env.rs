//! `parallel-pytest env`: where am I running and what will `run` use?
//!
//! Exit codes: 0 with the report; 2 for a bad flag, variable or config value, and for an
//! explicitly chosen interpreter (`--python`, `PARALLEL_PYTEST_PYTHON`, pyproject `python`)
//! that cannot be probed. When no interpreter was chosen and none is found on `PATH`, the
//! report still prints (with `python: null` and `python_error`) and exits 0: describing a
//! machine without Python is what `env` is for.

use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;

use crate::ci::{self, CiContext, Provider, ShardChoice};
use crate::cli::{EnvArgs, TextOrJson};
use crate::error::Error;
use crate::host::{self, Cpus, HostInfo, Memory, WorkerBudget};
use crate::python::PythonInfo;
use crate::python::interpreter::{self, InterpreterError};
use crate::settings::MachineSettings;
use crate::settings::env::EnvSettings;

/// The `env --format json` document (contract: these keys, see README).
#[derive(Debug, Clone, Serialize)]
struct EnvReport {
    pub provider: Provider,
    pub shard: Option<ShardChoice>,
    pub cpus: Cpus,
    pub memory: Memory,
    pub workers: WorkersReport,
    pub python: Option<PythonInfo>,
    /// Why `python` is null (only when no interpreter was found on `PATH`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub python_error: Option<String>,
    /// Files we could not use (garbled cgroup files …), also printed on stderr.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
struct WorkersReport {
    #[serde(flatten)]
    pub budget: WorkerBudget,
    pub memory_per_worker_mib: u64,
}

pub fn execute(root: Option<PathBuf>, args: EnvArgs) -> Result<ExitCode, Error> {
    let settings = EnvSettings::resolve(root, &args)?;
    let machine = &settings.machine;
    let ci = ci::detect_from_env(machine.shard)?;
    let (python, python_error) = probe_python(machine)?;
    let report = build_report(
        ci,
        host::detect(),
        machine.memory_per_worker_mib.value,
        machine.forced_workers(),
        machine.forced_workers_origin(),
        python,
        python_error,
    );
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    match settings.format {
        TextOrJson::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        TextOrJson::Text => print!("{}", render_text(&report)),
    }
    Ok(ExitCode::SUCCESS)
}

/// Find and probe the interpreter. An explicit choice that fails is the user's error; a PATH
/// search that finds nothing is reported in the output instead.
fn probe_python(
    machine: &MachineSettings,
) -> Result<(Option<PythonInfo>, Option<String>), InterpreterError> {
    let explicit = machine.python_choice();
    let was_explicit = explicit.is_some();
    let path_var = std::env::var_os("PATH");
    let result = interpreter::find(explicit, path_var.as_deref())
        .and_then(|(path, source)| interpreter::probe(&path, &source));
    match result {
        Ok(info) => Ok((Some(info), None)),
        Err(err) if was_explicit => Err(err),
        Err(err) => Ok((None, Some(err.to_string()))),
    }
}

/// Assemble the report from what was detected. Pure.
fn build_report(
    ci: CiContext,
    host: HostInfo,
    memory_per_worker_mib: u64,
    forced_workers: Option<u32>,
    forced_by: Option<String>,
    python: Option<PythonInfo>,
    python_error: Option<String>,
) -> EnvReport {
    let mut budget = host.workers(memory_per_worker_mib, forced_workers);
    if let (host::WorkerReason::Forced, Some(by)) = (budget.reason, forced_by) {
        budget.detail = format!("forced by {by}");
    }
    EnvReport {
        provider: ci.provider,
        shard: ci.shard,
        cpus: host.cpus,
        memory: host.memory,
        workers: WorkersReport {
            budget,
            memory_per_worker_mib,
        },
        python,
        python_error,
        warnings: host.warnings,
    }
}

/// The text form: a few aligned lines, no colour. Pure.
fn render_text(r: &EnvReport) -> String {
    let mut out = String::new();
    let mut line = |key: &str, value: String| out.push_str(&format!("{key:<9}{value}\n"));

    line(
        "provider",
        format!("{} ({})", r.provider.display_name(), r.provider),
    );
    line(
        "shard",
        match &r.shard {
            Some(s) => format!("{}/{} (from {})", s.index, s.total, s.source),
            None => "none (the whole suite is one shard)".to_owned(),
        },
    );
    let linux = cfg!(target_os = "linux");
    line("cpus", cpus_text(&r.cpus, linux));
    line("memory", memory_text(&r.memory, linux));
    let w = &r.workers;
    line(
        "workers",
        format!(
            "{} ({}: {}; budget {} MiB per worker)",
            w.budget.count,
            w.budget.reason.as_str(),
            w.budget.detail,
            w.memory_per_worker_mib
        ),
    );
    match (&r.python, &r.python_error) {
        (Some(p), _) => {
            line(
                "python",
                format!(
                    "`{}` (Python {})",
                    p.executable.display(),
                    p.version.as_deref().unwrap_or("unknown")
                ),
            );
            let missing = |package: &str| {
                format!(
                    "not installed: install it with `{} -m pip install {package}`",
                    p.executable.display()
                )
            };
            line(
                "pytest",
                p.pytest.clone().unwrap_or_else(|| missing("pytest")),
            );
            line(
                "xdist",
                p.xdist.clone().unwrap_or_else(|| missing("pytest-xdist")),
            );
        }
        (None, Some(err)) => line("python", format!("not found: {err}")),
        (None, None) => line("python", "not found".to_owned()),
    }
    out
}

/// `4 effective, set by … (online 8, affinity 8, cgroup quota 4 (`…/cpu.max`))`.
/// `linux`: whether cgroups exist here at all; elsewhere the text says so instead of "none".
fn cpus_text(c: &Cpus, linux: bool) -> String {
    let affinity = c.affinity.map_or("unknown".to_owned(), |a| a.to_string());
    let quota = match (c.quota, &c.quota_file) {
        (Some(q), Some(file)) => format!("{q} (`{}`)", file.display()),
        (Some(q), None) => q.to_string(),
        (None, _) if linux => "none".to_owned(),
        (None, _) => "none (no cgroups on this system)".to_owned(),
    };
    format!(
        "{} effective, set by {} (online {}, affinity {affinity}, cgroup quota {quota})",
        c.effective,
        c.source.describe(),
        c.online
    )
}

/// `cgroup limit 1.0 GiB (`…/memory.max`), 16.0 GiB available, 30.5 GiB installed`.
fn memory_text(m: &Memory, linux: bool) -> String {
    let limit = match (m.limit_bytes, &m.limit_file) {
        (Some(b), Some(file)) => format!("cgroup limit {} (`{}`)", bytes(b), file.display()),
        (Some(b), None) => format!("cgroup limit {}", bytes(b)),
        (None, _) if linux => "no cgroup limit".to_owned(),
        (None, _) => "no cgroups on this system".to_owned(),
    };
    let available = m
        .available_bytes
        .map_or("available unknown".to_owned(), |b| {
            format!("{} available", bytes(b))
        });
    match m.total_bytes {
        Some(total) => format!("{limit}, {available}, {} installed", bytes(total)),
        None => format!("{limit}, {available}"),
    }
}

/// Bytes in binary units with one decimal (`1.5 GiB`), for people.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn text_report_reads_well() {
        let host = host::detect_at(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/host/cgroup-v2"),
            Some(8),
        );
        let ci = ci::detect(None, &|name| match name {
            "GITLAB_CI" => Some("true".into()),
            "CI_NODE_INDEX" => Some("2".into()),
            "CI_NODE_TOTAL" => Some("3".into()),
            _ => None,
        })
        .unwrap();
        let python = PythonInfo {
            executable: "/venv/bin/python".into(),
            version: Some("3.12.1".into()),
            pytest: Some("9.2.0".into()),
            xdist: None,
        };
        let report = build_report(ci, host, 512, None, None, Some(python), None);
        let text = render_text(&report);
        assert_eq!(
            text,
            "provider GitLab CI (gitlab)
shard    2/3 (from CI_NODE_INDEX/CI_NODE_TOTAL)
cpus     1 effective, set by the cgroup v2 quota `cpu.max` (online 8, affinity 8, cgroup quota 1.5 (`/sys/fs/cgroup/cpu.max`))
memory   cgroup limit 1.0 GiB (`/sys/fs/cgroup/memory.max`), 16.0 GiB available, 30.5 GiB installed
workers  1 (cpu: 1 effective CPU; budget 512 MiB per worker)
python   `/venv/bin/python` (Python 3.12.1)
pytest   9.2.0
xdist    not installed: install it with `/venv/bin/python -m pip install pytest-xdist`
"
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["provider"], "gitlab");
        assert_eq!(json["shard"]["source"], "CI_NODE_INDEX/CI_NODE_TOTAL");
        assert_eq!(json["cpus"]["source"], "cgroup v2 cpu.max");
        assert_eq!(json["cpus"]["quota"], 1.5);
        assert_eq!(json["memory"]["limit_bytes"], 1u64 << 30);
        assert_eq!(json["workers"]["count"], 1);
        assert_eq!(json["workers"]["reason"], "cpu");
        assert_eq!(json["python"]["xdist"], serde_json::Value::Null);
    }

    /// macOS: no cgroups, no affinity, installed memory only; the text says so.
    #[test]
    fn text_without_cgroups_says_what_is_unknown() {
        let memory = Memory {
            limit_bytes: None,
            limit_file: None,
            available_bytes: None,
            total_bytes: Some(16 << 30),
        };
        assert_eq!(
            memory_text(&memory, false),
            "no cgroups on this system, available unknown, 16.0 GiB installed"
        );
        let cpus = Cpus {
            online: 3,
            affinity: None,
            quota: None,
            quota_file: None,
            effective: 3,
            source: host::CpuSource::Online,
        };
        assert_eq!(
            cpus_text(&cpus, false),
            "3 effective, set by the online CPUs (online 3, affinity unknown, cgroup quota none (no cgroups on this system))"
        );
    }
}

//! Planner benchmark (not a test): `cargo bench --bench plan`.
//!
//! 1. Speed, end to end through the release binary (`plan --format json`, discovery included):
//!    a repository of 2,000 test files, and one of 100,000 files with 1,000,000 timed node ids.
//!    Wall time (median of several runs) and peak RSS of the child process.
//! 2. Quality on synthetic heavy-tailed suites (log-normal and Pareto durations, tests packed
//!    into files of very uneven size): predicted makespan / lower bound for N in
//!    {2, 4, 8, 16, 32, 64}, next to pytest-split 0.11's `least_duration` and
//!    `duration_based_chunks` run on the identical durations (`benches/pytest_split_compare.py`
//!    with the tools venv). Lower bound = max(total / N, longest test).
//!
//! Options: `--quick` (smaller speed repositories), `--quality-only`, `--speed-only`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use parallel_pytest::plan::build::{PartitionInput, partition_plan};
use parallel_pytest::plan::constraints::Constraints;
use parallel_pytest::timings::{FileWork, TestWork};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const SHARDS: &[u32] = &[2, 4, 8, 16, 32, 64];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let has = |f: &str| args.iter().any(|a| a == f);
    println!("# parallel-pytest planner benchmark");
    println!("machine: {}", machine());
    if !has("--quality-only") {
        speed(has("--quick"));
    }
    if !has("--speed-only") {
        quality();
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .next()
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_owned())
        })
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(String::new(), |kb| {
            format!(", {} GiB RAM", kb / 1024 / 1024)
        });
    format!(
        "{cpu}, {cpus} CPUs available{mem}, {} {}",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

// ---------------------------------------------------------------- speed

/// Writes `files` test files (`tests_per_file` tests each) under `dir/tests/dNNN/` and a
/// `.test_durations` naming `timed_per_file` tests of each file.
fn make_repo(dir: &Path, files: usize, tests_per_file: usize, timed_per_file: usize) {
    std::fs::write(
        dir.join("pyproject.toml"),
        "[tool.pytest.ini_options]\ntestpaths = [\"tests\"]\n",
    )
    .unwrap();
    let mut body = String::new();
    for k in 0..tests_per_file {
        body.push_str(&format!("def test_{k}():\n    pass\n\n"));
    }
    let mut rng = StdRng::seed_from_u64(7);
    let mut json = String::with_capacity(files * timed_per_file * 48);
    json.push('{');
    for i in 0..files {
        let sub = dir.join(format!("tests/d{:03}", i / 100));
        if i % 100 == 0 {
            std::fs::create_dir_all(&sub).unwrap();
        }
        std::fs::write(sub.join(format!("test_f{i}.py")), &body).unwrap();
        for k in 0..timed_per_file {
            if json.len() > 1 {
                json.push(',');
            }
            let secs: f64 = lognormal(&mut rng, -2.0, 1.5);
            json.push_str(&format!(
                "\"tests/d{:03}/test_f{i}.py::test_{k}\":{secs:.6}",
                i / 100
            ));
        }
    }
    json.push('}');
    std::fs::write(dir.join(".test_durations"), json).unwrap();
}

/// Peak resident memory of the finished children; -1 where there is no `getrusage`.
#[cfg(unix)]
fn max_rss_children_kib() -> i64 {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .map(|u| u.max_rss())
        .unwrap_or(-1)
}

#[cfg(not(unix))]
fn max_rss_children_kib() -> i64 {
    -1
}

fn run_plan(dir: &Path) -> f64 {
    let start = Instant::now();
    let status = Command::new(env!("CARGO_BIN_EXE_parallel-pytest"))
        .current_dir(dir)
        .args([
            "plan",
            "--format",
            "json",
            "--shards",
            "16",
            "--workers",
            "4",
        ])
        .stdout(Stdio::null())
        .status()
        .expect("run parallel-pytest");
    assert!(status.success(), "plan failed in {}", dir.display());
    start.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn speed(quick: bool) {
    println!(
        "\n## speed: `plan --format json --shards 16 --workers 4`, end to end (release binary)\n"
    );
    println!("| repository | timed ids | runs | median wall | peak RSS |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    let cases: &[(usize, usize, usize, usize)] = if quick {
        &[(2_000, 5, 5, 11), (10_000, 10, 10, 3)]
    } else {
        &[(2_000, 5, 5, 11), (100_000, 10, 10, 3)]
    };
    for &(files, tests, timed, runs) in cases {
        let dir = tempfile::tempdir().unwrap();
        make_repo(dir.path(), files, tests, timed);
        run_plan(dir.path()); // warm the page cache
        let times: Vec<f64> = (0..runs).map(|_| run_plan(dir.path())).collect();
        let rss = max_rss_children_kib();
        println!(
            "| {files} files × {tests} tests | {} | {runs} | {:.1} ms | {:.0} MiB |",
            files * timed,
            median(times) * 1000.0,
            rss as f64 / 1024.0
        );
    }
}

// ---------------------------------------------------------------- quality

fn lognormal(rng: &mut StdRng, mu: f64, sigma: f64) -> f64 {
    // Box-Muller.
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random_range(0.0..1.0);
    let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
    (mu + sigma * z).exp()
}

fn pareto(rng: &mut StdRng, xm: f64, alpha: f64) -> f64 {
    let u: f64 = rng.random_range(f64::EPSILON..1.0);
    xm / u.powf(1.0 / alpha)
}

struct Synthetic {
    name: String,
    files: Vec<FileWork>,
    ids: Vec<String>,
    micros: Vec<u64>,
}

/// `tests` tests in `tests / 8` files; file sizes are skewed (a file index drawn as
/// `files × u³`), so a few files hold many tests and are far heavier than the rest.
fn synthetic(dist: &str, tests: usize, seed: u64) -> Synthetic {
    let mut rng = StdRng::seed_from_u64(seed);
    let nfiles = (tests / 8).max(1);
    let mut by_file: Vec<Vec<TestWork>> = vec![Vec::new(); nfiles];
    let mut ids = Vec::with_capacity(tests);
    let mut micros = Vec::with_capacity(tests);
    for t in 0..tests {
        let u: f64 = rng.random_range(0.0..1.0);
        let f = ((nfiles as f64) * u * u * u) as usize % nfiles;
        let secs = match dist {
            "lognormal" => lognormal(&mut rng, -1.0, 1.3),
            _ => pareto(&mut rng, 0.05, 1.3),
        };
        let m = (secs * 1e6).round() as u64;
        let id = format!("tests/test_f{f}.py::test_{t}");
        ids.push(id.clone());
        micros.push(m);
        by_file[f].push(TestWork {
            id,
            seconds: m as f64 / 1e6,
            known: true,
        });
    }
    let files = by_file
        .into_iter()
        .enumerate()
        .filter(|(_, t)| !t.is_empty())
        .map(|(f, tests)| FileWork {
            path: format!("tests/test_f{f}.py"),
            tests,
            anonymous_seconds: 0.0,
            complete: true,
        })
        .collect();
    Synthetic {
        name: format!("{dist}-{tests}"),
        files,
        ids,
        micros,
    }
}

fn plan_makespan(files: &[FileWork], n: u32) -> (f64, f64) {
    let none = |_: &str| None;
    let start = Instant::now();
    let plan = partition_plan(&PartitionInput {
        files,
        node_args: &[],
        sources: &none,
        shards: n,
        workers: 1,
        unknown_tests: 0,
        constraints: &Constraints::default(),
        fixed: &parallel_pytest::timings::store::FixedCosts::default(),
    });
    (
        plan.predicted_makespan_seconds,
        start.elapsed().as_secs_f64(),
    )
}

fn tools_python() -> Option<PathBuf> {
    let dir = std::env::var_os("PARALLEL_PYTEST_TEST_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache/venvs/tools/bin")
        });
    let p = dir.join("python");
    p.exists().then_some(p)
}

fn quality() {
    let mut suites = Vec::new();
    for (i, dist) in ["lognormal", "pareto"].iter().enumerate() {
        for (j, tests) in [500usize, 5_000, 50_000].iter().enumerate() {
            suites.push(synthetic(dist, *tests, 1000 + (i * 10 + j) as u64));
        }
    }
    // pytest-split on the identical durations.
    let input = tempfile::NamedTempFile::new().unwrap();
    let payload: Vec<serde_json::Value> = suites
        .iter()
        .map(|s| serde_json::json!({"name": s.name, "ids": s.ids, "micros": s.micros, "shards": SHARDS}))
        .collect();
    std::fs::write(input.path(), serde_json::to_string(&payload).unwrap()).unwrap();
    let split: Option<serde_json::Value> = tools_python().and_then(|py| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/pytest_split_compare.py");
        let out = Command::new(py)
            .arg(script)
            .arg(input.path())
            .output()
            .ok()?;
        if !out.status.success() {
            eprintln!(
                "pytest-split comparison failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    });
    if split.is_none() {
        eprintln!("pytest-split columns skipped: run `scripts/bootstrap.sh` for the tools venv");
    }

    println!("\n## quality: predicted makespan / lower bound (1.000 = optimal)\n");
    println!(
        "Tests are packed into files of very uneven size; `ours` plans with exact node ids (`--collect`), splitting heavy files only where needed; `ours, files only` never splits. pytest-split always works per test. `(k empty)` = shards with no tests (pytest exits 5 on those).\n"
    );
    println!(
        "| suite | files | N | bound s | ours | ours, files only | pytest-split least_duration | pytest-split duration_based_chunks | ours plan time |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut worst: f64 = 0.0;
    let mut worst_achievable: f64 = 0.0;
    for s in &suites {
        let total: u64 = s.micros.iter().sum();
        let longest = s.micros.iter().copied().max().unwrap_or(0);
        let unsplit: Vec<FileWork> = s
            .files
            .iter()
            .map(|f| FileWork {
                complete: false,
                ..f.clone()
            })
            .collect();
        for &n in SHARDS {
            let lb = total.div_ceil(u64::from(n)).max(longest) as f64 / 1e6;
            let (ours, secs) = plan_makespan(&s.files, n);
            let (files_only, _) = plan_makespan(&unsplit, n);
            let r = ours / lb;
            worst = worst.max(r);
            // "Achievable": the bound is the total, not one test longer than a fair share.
            if (total.div_ceil(u64::from(n))) >= longest {
                worst_achievable = worst_achievable.max(r);
            }
            let ps = |algo: &str| -> String {
                split
                    .as_ref()
                    .and_then(|v| {
                        let row = &v[&s.name][n.to_string()];
                        let m = row[algo].as_f64()?;
                        let empty = row[format!("{algo}_empty")].as_u64().unwrap_or(0);
                        Some(if empty > 0 {
                            format!("{:.3} ({empty} empty)", m / lb)
                        } else {
                            format!("{:.3}", m / lb)
                        })
                    })
                    .unwrap_or_else(|| "–".into())
            };
            println!(
                "| {} | {} | {n} | {lb:.1} | {r:.3} | {:.3} | {} | {} | {:.1} ms |",
                s.name,
                s.files.len(),
                files_only / lb,
                ps("least_duration"),
                ps("duration_based_chunks"),
                secs * 1000.0
            );
        }
    }
    println!(
        "\nworst ours/bound: {worst:.4} overall, {worst_achievable:.4} where total/N ≥ longest test"
    );
}

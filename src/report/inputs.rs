//! Finding and reading the shard artifacts (the I/O edge of the report stage).
//!
//! Inputs are files, folders or globs. In a folder we take every `*.xml` as JUnit and every
//! `shard-<I>-of-<N>.json` as a manifest. A manifest brings its JUnit file along (`junit_file`,
//! relative to the manifest), and a `junit-<I>-of-<N>.xml` brings its sibling manifest, so
//! pointing at either finds the pair. Nothing here decides what is red: problems are data.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::ci::Shard;
use crate::junit::reader::{Limits, read_path};
use crate::pytest::manifest::Manifest;

use super::model::{Inputs, LoadedFile, LoadedManifest, Problem, ProblemKind};

/// How deep folders are searched.
const MAX_DEPTH: usize = 6;

#[derive(Debug, Default)]
struct Found {
    junit: BTreeSet<PathBuf>,
    manifests: BTreeSet<PathBuf>,
    problems: Vec<Problem>,
    /// The shard of a JUnit file, from the manifest that names it.
    shard_of: BTreeMap<PathBuf, Shard>,
    /// Shards without JUnit, rebuilt from their results logs.
    rebuilt: Vec<LoadedFile>,
}

/// `junit-2-of-3.xml` → 2/3.
fn shard_from_name(name: &str, prefix: &str, ext: &str) -> Option<Shard> {
    let stem = name.strip_prefix(prefix)?.strip_suffix(ext)?;
    let (i, n) = stem.split_once("-of-")?;
    Shard::new(i.parse().ok()?, n.parse().ok()?).ok()
}

fn is_manifest_name(name: &str) -> bool {
    shard_from_name(name, "shard-", ".json").is_some()
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '[', '{'])
}

fn norm(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

fn classify(found: &mut Found, path: &Path, explicit: bool) {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if is_manifest_name(name) || (explicit && name.ends_with(".json")) {
        found.manifests.insert(norm(path));
    } else if explicit || name.ends_with(".xml") {
        found.junit.insert(norm(path));
    }
}

fn walk(found: &mut Found, dir: &Path, filter: Option<&globset::GlobMatcher>, base: &Path) {
    for entry in walkdir::WalkDir::new(dir)
        .max_depth(MAX_DEPTH)
        .sort_by_file_name()
    {
        let Ok(entry) = entry else { continue };
        if !entry.file_type().is_file() {
            continue;
        }
        let path = entry.path();
        if let Some(glob) = filter {
            let rel = path.strip_prefix(base).unwrap_or(path);
            if !glob.is_match(rel) && !glob.is_match(path) {
                continue;
            }
            classify(found, path, true);
        } else {
            classify(found, path, false);
        }
    }
}

/// Finds, reads and pairs every input. `exclude` holds our own outputs (the merged JUnit).
pub fn load(
    inputs: &[String],
    base: &Path,
    expect_shards: Option<u32>,
    limits: &Limits,
    exclude: &[PathBuf],
) -> Inputs {
    let mut found = Found::default();
    for input in inputs {
        find(&mut found, input, base);
    }
    let exclude: BTreeSet<PathBuf> = exclude.iter().map(|p| norm(p)).collect();
    found.junit.retain(|p| !exclude.contains(p));
    add_sibling_manifests(&mut found);
    let mut manifests = read_manifests(&mut found, &exclude);
    let junit: Vec<PathBuf> = std::mem::take(&mut found.junit).into_iter().collect();
    let results = read_all(&junit, limits);
    let files: Vec<LoadedFile> = junit
        .iter()
        .zip(results)
        .map(|(path, result)| {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            LoadedFile::new(
                display(path, base),
                found
                    .shard_of
                    .get(path)
                    .copied()
                    .or_else(|| shard_from_name(name, "junit-", ".xml")),
                result,
            )
        })
        .collect();
    for m in &mut manifests {
        m.path = display(Path::new(&m.path), base);
    }
    let files = files
        .into_iter()
        .chain(found.rebuilt.drain(..).map(|mut f| {
            f.path = display(Path::new(&f.path), base);
            f
        }))
        .collect();
    Inputs {
        files,
        manifests,
        unusable: found.problems,
        expect_shards,
        only_shard: None,
    }
}

/// Adds what one input (a folder, file or glob, relative to `base`) names, or says why nothing.
fn find(found: &mut Found, input: &str, base: &Path) {
    let path = base.join(input);
    let before = found.junit.len() + found.manifests.len();
    let nothing = if path.is_dir() {
        walk(found, &path, None, base);
        format!("folder `{input}` holds no JUnit (`*.xml`) or manifest (`shard-I-of-N.json`) files")
    } else if path.is_file() {
        classify(found, &path, true);
        return;
    } else if has_glob(input) {
        let matcher = match globset::Glob::new(input) {
            Ok(g) => g.compile_matcher(),
            Err(err) => {
                found.problems.push(Problem::new(
                    ProblemKind::Unreadable,
                    format!("`{input}` is not a valid glob: {err}"),
                ));
                return;
            }
        };
        // Walk from the glob's literal prefix.
        let literal: PathBuf = Path::new(input)
            .components()
            .take_while(|c| !has_glob(&c.as_os_str().to_string_lossy()))
            .collect();
        walk(found, &base.join(&literal), Some(&matcher), base);
        format!("no file matches `{input}`")
    } else {
        found.problems.push(
            Problem::new(ProblemKind::Unreadable, format!("`{input}` does not exist")).at(input),
        );
        return;
    };
    if found.junit.len() + found.manifests.len() == before {
        found
            .problems
            .push(Problem::new(ProblemKind::Unreadable, nothing));
    }
}

/// Sibling manifests of `junit-I-of-N.xml`.
fn add_sibling_manifests(found: &mut Found) {
    for junit in &found.junit {
        let name = junit.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if let Some(shard) = shard_from_name(name, "junit-", ".xml") {
            let sibling = junit.with_file_name(format!("shard-{}.json", shard.file_stem()));
            if sibling.is_file() {
                found.manifests.insert(norm(&sibling));
            }
        }
    }
}

/// Parses every manifest; the JUnit file each names joins the inputs with the manifest's shard.
fn read_manifests(found: &mut Found, exclude: &BTreeSet<PathBuf>) -> Vec<LoadedManifest> {
    let mut manifests = Vec::new();
    for path in std::mem::take(&mut found.manifests) {
        let shown = path.display().to_string();
        let parsed = fs_err::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|text| {
                serde_json::from_str::<Manifest>(&text)
                    .map_err(|e| format!("`{shown}` is not a shard manifest: {e}"))
            });
        let manifest = match parsed {
            Ok(manifest) => manifest,
            Err(message) => {
                found
                    .problems
                    .push(Problem::new(ProblemKind::Unreadable, message).at(shown));
                continue;
            }
        };
        let junit = norm(
            &path
                .parent()
                .unwrap_or(Path::new("."))
                .join(&manifest.junit_file),
        );
        let junit_found = junit.is_file() && !exclude.contains(&junit);
        if junit_found {
            found.junit.insert(junit.clone());
            if let Ok(shard) = Shard::new(manifest.shard_index.into(), manifest.shard_total.into())
            {
                found.shard_of.insert(junit, shard);
            }
        }
        let rebuilt = if !junit_found && manifest.pytest_started {
            super::rebuild::from_log(&path, &manifest).map(|(file, rebuilt)| {
                found.rebuilt.push(file);
                rebuilt
            })
        } else {
            None
        };
        manifests.push(LoadedManifest {
            path: shown,
            manifest,
            junit_found,
            rebuilt,
        });
    }
    manifests
}

/// A path as the user would write it: relative to `base` when inside it.
fn display(path: &Path, base: &Path) -> String {
    let base = norm(base);
    path.strip_prefix(&base)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| path.display().to_string())
}

/// Parses every file, spread over the available CPUs (the files are independent).
fn read_all(paths: &[PathBuf], limits: &Limits) -> Vec<Result<crate::junit::FileReport, String>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(paths.len().max(1));
    let chunk = paths.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = paths
            .chunks(chunk)
            .map(|part| {
                let handle = scope.spawn(move || {
                    part.iter()
                        .map(|p| read_path(p, limits).map_err(|e| e.to_string()))
                        .collect::<Vec<_>>()
                });
                (part.len(), handle)
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|(len, h)| {
                h.join().unwrap_or_else(|_| {
                    (0..len)
                        .map(|_| Err("the JUnit reader panicked".to_owned()))
                        .collect()
                })
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_names() {
        assert_eq!(
            shard_from_name("junit-2-of-3.xml", "junit-", ".xml"),
            Shard::new(2, 3).ok()
        );
        assert_eq!(shard_from_name("junit-4-of-3.xml", "junit-", ".xml"), None);
        assert!(is_manifest_name("shard-1-of-1.json"));
        assert!(!is_manifest_name("timings.json"));
    }
}

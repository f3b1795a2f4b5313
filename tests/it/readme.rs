//! The README's configuration reference is checked against the variable registry
//! (`src/env_vars.rs`), and the registry against itself, so neither drifts.

use std::collections::BTreeSet;

use parallel_pytest::env_vars;

use crate::harness::repo_root;

/// Every `pub const X: &str = "VALUE";` in `src/env_vars.rs`. A value ending in `_` is a
/// prefix (`PARALLEL_PYTEST_INPUT_`): the README writes it `PARALLEL_PYTEST_INPUT_*`.
fn declared() -> BTreeSet<String> {
    let text = std::fs::read_to_string(repo_root().join("src/env_vars.rs")).unwrap();
    text.lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix("pub const ")?;
            let (_, value) = rest.split_once(": &str = \"")?;
            Some(value.strip_suffix("\";")?.to_owned())
        })
        .collect()
}

/// The README between `<!-- env-vars:start -->` and `<!-- env-vars:end -->`.
fn reference_section() -> String {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let start = readme
        .find("<!-- env-vars:start -->")
        .expect("README has `<!-- env-vars:start -->`");
    let end = readme
        .find("<!-- env-vars:end -->")
        .expect("README has `<!-- env-vars:end -->`");
    readme[start..end].to_owned()
}

#[test]
fn every_declared_variable_is_in_a_registry_list() {
    let declared = declared();
    assert!(declared.len() > 30, "parsed {declared:?}");
    let listed: BTreeSet<String> = env_vars::ours::ALL
        .iter()
        .chain(env_vars::ci::ALL)
        .map(|s| s.to_string())
        .collect();
    let missing: Vec<_> = declared
        .difference(&listed)
        .filter(|v| !v.ends_with('_'))
        .collect();
    assert!(
        missing.is_empty(),
        "add these to `ALL` in src/env_vars.rs (the test harness clears `ALL`): {missing:?}"
    );
}

#[test]
fn readme_documents_every_variable() {
    let section = reference_section();
    let missing: Vec<_> = declared()
        .into_iter()
        .filter(|v| {
            let shown = if v.ends_with('_') {
                format!("`{v}*`")
            } else {
                format!("`{v}`")
            };
            !section.contains(&shown)
        })
        .collect();
    assert!(
        missing.is_empty(),
        "document these in README.md between the env-vars markers: {missing:?}"
    );
}

#[test]
fn readme_documents_no_unknown_variable() {
    let declared = declared();
    let section = reference_section();
    let stale: Vec<String> = section
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|code| code.starts_with("PARALLEL_PYTEST_") && !code.contains('/'))
        .map(|code| code.trim_end_matches('*'))
        .filter(|code| !declared.contains(*code))
        // Examples of a prefix's variables (`PARALLEL_PYTEST_INPUT_SHARDS`).
        .filter(|code| {
            !declared
                .iter()
                .any(|d| d.ends_with('_') && code.starts_with(d.as_str()))
        })
        .map(str::to_owned)
        .collect();
    assert!(
        stale.is_empty(),
        "README.md documents variables that src/env_vars.rs does not declare: {stale:?}"
    );
}

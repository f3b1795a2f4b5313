# Helpers shared by the action's scripts (sourced, not executed).
#
# Portable on purpose: these scripts run under macOS's bash 3.2 and Git Bash on Windows as well
# as Linux, so no bash-4 syntax and no GNU-only flags (tests/it/action.rs lints for both).

# Workflow-command data escaping (DESIGN.md §5): the message can carry user input.
pp_escape() {
  local s=$1 pct='%' cr=$'\r' lf=$'\n'
  s=${s//$pct/%25}
  s=${s//$cr/%0D}
  s=${s//$lf/%0A}
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

# A fresh heredoc delimiter: 128 random bits when /dev/urandom is there, else $RANDOM.
pp_delimiter() {
  local hex=""
  if [[ -r /dev/urandom ]]; then
    hex=$(od -An -N16 -tx1 /dev/urandom 2>/dev/null | tr -d ' \n')
  fi
  [[ -n $hex ]] || hex="$RANDOM$RANDOM$RANDOM$RANDOM$RANDOM"
  printf 'pp_%s' "$hex"
}

# pp_output NAME VALUE: a step output, multi-line safe. The delimiter is random and checked not
# to occur in the value, so a value can never end its own entry and add outputs of its own.
pp_output() {
  local delim tries=0
  delim=$(pp_delimiter)
  while [[ $2 == *"$delim"* ]]; do
    tries=$((tries + 1))
    ((tries < 10)) || pp_error "could not pick a delimiter for the \`$1\` output"
    delim=$(pp_delimiter)
  done
  printf '%s<<%s\n%s\n%s\n' "$1" "$delim" "$2" "$delim" >>"$GITHUB_OUTPUT"
}

# pp_unix_path PATH: Git Bash on Windows gets `C:\a\b` from the runner; its tools want `/c/a/b`.
pp_unix_path() {
  if [[ $1 == [A-Za-z]:* ]] && command -v cygpath >/dev/null 2>&1; then
    cygpath -u "$1"
  else
    printf '%s' "$1"
  fi
}

# pp_split_words TEXT: splits TEXT the way a POSIX shell splits words, without evaluating
# anything, into the array `pp_words`: blanks separate words, '...' is literal, "..." keeps
# blanks and honours \" \\ \$ \` escapes, a backslash outside quotes escapes the next character.
# An unbalanced quote or a trailing backslash is an error: returns 1 with `pp_split_error` set.
# shellcheck disable=SC2034 # pp_words and pp_split_error are this function's results.
pp_split_words() {
  local text=$1 len=${#1} i=0 c word="" have=0 quote=""
  pp_words=()
  pp_split_error=""
  while ((i < len)); do
    c=${text:i:1}
    i=$((i + 1))
    if [[ $quote == "'" ]]; then
      if [[ $c == "'" ]]; then quote=""; else word+=$c; fi
    elif [[ $quote == '"' ]]; then
      if [[ $c == '"' ]]; then
        quote=""
      elif [[ $c == \\ && $i -lt $len ]]; then
        case ${text:i:1} in
          '"' | \\ | '$' | '`') word+=${text:i:1} ;;
          *) word+="\\${text:i:1}" ;;
        esac
        i=$((i + 1))
      else
        word+=$c
      fi
    else
      case $c in
        ' ' | $'\t' | $'\n' | $'\r')
          if ((have)); then pp_words+=("$word"); fi
          word="" have=0
          ;;
        "'" | '"') quote=$c have=1 ;;
        \\)
          if ((i >= len)); then
            pp_split_error="it ends with a lone backslash"
            return 1
          fi
          word+=${text:i:1} have=1
          i=$((i + 1))
          ;;
        *) word+=$c have=1 ;;
      esac
    fi
  done
  if [[ -n $quote ]]; then
    pp_split_error="a quote ($quote) is never closed"
    return 1
  fi
  if ((have)); then pp_words+=("$word"); fi
  return 0
}

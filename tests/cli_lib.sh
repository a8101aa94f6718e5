# Sourced by the shell tests: a temporary directory `dir` removed at exit
# (everything a test writes goes there), a failure count and the checks they
# share. Each test ends with `finish`, whose "N failures" line CTest reads.
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
# expect TEXT FILE: FILE contains TEXT (else FILE is shown).
expect() { grep -qF -- "$1" "$2" || { fail "$2 lacks '$1':"; cat "$2"; }; }
# refuse TEXT FILE: FILE does not contain TEXT.
refuse() { ! grep -qF -- "$1" "$2" || fail "$2 has '$1'"; }
# status WANT CODE WHAT: the exit code of WHAT was WANT.
status() { [ "$2" -eq "$1" ] || fail "$3: exit code $2, expected $1"; }
finish() {
  echo "$failures failures"
  exit $((failures > 0))
}

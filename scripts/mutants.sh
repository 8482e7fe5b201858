#!/usr/bin/env bash
# Mutation harness: proves that every safety check and signal rule is pinned
# by a behaviour test. Each scripts/mutants/NAME.patch disables one check or
# rule; its header names the tests that must catch it:
#
#   # mutant: NAME
#   # disables: what the patch turns off
#   # caught-by: a `swift test --filter` regex
#
# For each mutant this script restores a scratch copy of the tree, applies the
# patch, builds incrementally (own --scratch-path, kept between runs), runs the
# catching tests, and prints one line:
#
#   caught    NAME  (by TEST)    a test failed (or timed out) with the mutant
#   SURVIVED  NAME               every catching test passed: the check is unpinned
#   BROKEN    NAME  (why)        the patch no longer applies, the mutant does not build,
#                                or it patches a header (an incremental build misses that)
#
# First it runs every catching test on the unmutated tree: a test that fails
# there proves nothing. Exits non-zero if the baseline fails, or any mutant
# survives or is broken.
#
# Usage: scripts/mutants.sh [NAME...]      (default: every scripts/mutants/*.patch)
# Environment: MUTANTS_SCRATCH (default .build-mutants in this checkout: a
#                fresh clone builds cold, never on another run's leftovers),
#              MUTANTS_TEST_TIMEOUT seconds per test run (default 600).
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
scratch=${MUTANTS_SCRATCH:-$repo/.build-mutants}
tree=$scratch/tree
build=$scratch/build
test_timeout=${MUTANTS_TEST_TIMEOUT:-600}
export SWIFT_TERMINAL_COLORS=0 SWIFT_BACKTRACE=enable=no
start=$(date +%s)

if [ $# -gt 0 ]; then
  patches=(); for name in "$@"; do patches+=("scripts/mutants/$name.patch"); done
else
  patches=(scripts/mutants/*.patch)
fi

header() { sed -n "s/^# $2: //p" "$1" | head -n 1; }

# The scratch tree mirrors the repository's tracked and untracked files;
# unchanged files keep their timestamps, so builds stay incremental. A copied
# file is stamped now, never with the repository's older time: the build must
# see it as newer than what it built from the file's previous contents.
sync_tree() {
  mkdir -p "$tree"
  local listed
  listed=$(mktemp)
  git ls-files -co --exclude-standard -z | while IFS= read -r -d '' f; do
    [ -f "$f" ] || continue
    printf '%s\n' "$f" >> "$listed"
    if ! cmp -s "$f" "$tree/$f"; then
      mkdir -p "$tree/$(dirname "$f")"
      cp "$f" "$tree/$f"
    fi
  done
  # Files moved or deleted since the last run must not linger in the copy.
  (cd "$tree" && find Sources Tests -type f 2>/dev/null) | sort > "$listed.tree"
  sort "$listed" | comm -13 - "$listed.tree" | while read -r f; do rm -f "$tree/$f"; done
  rm -f "$listed" "$listed.tree"
}

# Restores the files a patch touched, stamped now. (`cp -p` put a restored
# file's time back before the mutant's build, so the next build kept the
# mutant compiled in: a header's inline function stayed mutated for the next
# mutants, and in the next run's baseline, which then failed on CI.)
restore() {
  sed -n 's|^+++ b/\([^[:space:]]*\).*|\1|p' "$1" | while read -r f; do cp "$repo/$f" "$tree/$f"; done
}

# Runs the tests matching $1 in the scratch tree (building first); $2 is a log file.
run_tests() {
  (cd "$tree" && timeout "$test_timeout" swift test --scratch-path "$build" --filter "$1") >"$2" 2>&1
}

failed_tests() {
  sed -n 's/^✘ Test \("[^"]*"\) failed .*/\1/p' "$1" | paste -sd ";" -
}

# What each failing test recorded (its issue lines and their comments), for a
# failure on a machine whose log is gone once the run ends.
recorded_issues() {
  grep -A3 '^✘ Test .* recorded an issue' "$1" | head -n 40
}

sync_tree
logs=$scratch/logs
mkdir -p "$logs"

# Baseline: every catching test passes on the unmutated tree.
filters=()
for p in "${patches[@]}"; do
  [ -f "$p" ] || { echo "BROKEN    $(basename "$p" .patch)  (no such patch)"; exit 1; }
  filters+=("$(header "$p" caught-by)")
done
union=$(printf '%s\n' "${filters[@]}" | sort -u | paste -sd '|' -)
if ! run_tests "$union" "$logs/baseline.log"; then
  echo "baseline: the catching tests fail on the unmutated tree (see $logs/baseline.log):"
  failed_tests "$logs/baseline.log"
  recorded_issues "$logs/baseline.log"
  exit 1
fi
echo "baseline  every catching test passes unmutated ($(( $(date +%s) - start )) s)"

bad=0
for p in "${patches[@]}"; do
  name=$(basename "$p" .patch)
  filter=$(header "$p" caught-by)
  log=$logs/$name.log
  # A Swift module that inlines a header's function is not rebuilt when the
  # header alone changes (the C objects are): such a mutant would survive, or
  # stay compiled in after its restore. Mutate the C file instead.
  if grep -q '^+++ b/.*\.h\b' "$p"; then
    echo "BROKEN    $name  (it patches a header: incremental Swift builds miss it)"; bad=1; continue
  fi
  if ! (cd "$tree" && patch -p1 --forward --silent --no-backup-if-mismatch -r - <"$repo/$p") >"$log" 2>&1; then
    echo "BROKEN    $name  (the patch no longer applies: $(head -n 1 "$log"))"
    restore "$p"; bad=1; continue
  fi
  run_tests "$filter" "$log"
  rc=$?
  restore "$p"
  if grep -q 'error: .*\(compil\|emit-module\)\|error: fatalError\|: error:' "$log" && ! grep -q '^✘\|^✔' "$log"; then
    echo "BROKEN    $name  (the mutant does not build: see $log)"; bad=1
  elif [ $rc -eq 124 ]; then
    echo "caught    $name  (by a hang: $filter timed out after ${test_timeout} s)"
  elif [ $rc -ne 0 ]; then
    by=$(failed_tests "$log"); echo "caught    $name  (by ${by:-$filter})"
  else
    echo "SURVIVED  $name"; bad=1
  fi
done
echo "done in $(( $(date +%s) - start )) s"
exit $bad

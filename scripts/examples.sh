#!/usr/bin/env bash
# Builds the two nested packages (Integrations/, Examples/), runs the
# integrations' tests, and runs each example with a time limit: each drives
# itself and exits 0 when it showed what it shows (Docs/Integrations.md).
# Both packages depend on the core by path, so this checks the working tree.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
export SWIFT_TERMINAL_COLORS=0
start=$(date +%s)
step() { echo "--- examples.sh: $1 ($(( $(date +%s) - start )) s)"; }

step "Integrations: build and test (warnings in its sources are errors)"
if ! (cd "$repo/Integrations" && swift build --build-tests > /tmp/threadkill-integrations-build.log 2>&1); then
  cat /tmp/threadkill-integrations-build.log; exit 1
fi
if grep -E '^/.*/(Integrations|Examples)/(Sources|Tests)/.*warning:' /tmp/threadkill-integrations-build.log; then
  echo "error: warnings in Integrations/" >&2
  exit 1
fi
(cd "$repo/Integrations" && swift test --skip-build)

step "Examples: the C library is C11, -Wall -Wextra clean"
gcc -std=c11 -Wall -Wextra -Werror -I"$repo/Examples/Sources/CExampleLibrary/include" \
    -c "$repo/Examples/Sources/CExampleLibrary/CExampleLibrary.c" -o /dev/null

step "Examples: build"
if ! (cd "$repo/Examples" && swift build > /tmp/threadkill-examples-build.log 2>&1); then
  cat /tmp/threadkill-examples-build.log; exit 1
fi
if grep -E '^/.*/Examples/Sources/.*warning:' /tmp/threadkill-examples-build.log; then
  echo "error: warnings in Examples/" >&2
  exit 1
fi
bin=$(cd "$repo/Examples" && swift build --show-bin-path)
for example in EchoServer JobRunner AsyncHandler; do
  step "Examples: run $example (60 s limit)"
  timeout --kill-after=5 60 "$bin/$example"
done
step "done"

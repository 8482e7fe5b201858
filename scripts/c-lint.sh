#!/usr/bin/env bash
# Compiles every .c file of the C targets with gcc and with clang, C11, warnings
# as errors (SwiftPM cannot pass -Wall -Wextra -Werror without unsafeFlags),
# at -O2 so that gcc's flow warnings (maybe-uninitialized, …) run too.
# Each file sees the include path SwiftPM gives it: its own target's include/.
# clang also checks that every header's pointers say whether they may be NULL.
# Installs nothing: a missing compiler is an error that names it.
set -euo pipefail
cd "$(dirname "$0")/.."

targets=(CPthreadShim CThreadKillTestSupport CLatencyFloor CThreadKillStress)
common=(-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -c -o /dev/null)
declare -A extra=([gcc]="" [clang]="-Wnullability-completeness")

status=0
for cc in gcc clang; do
  if ! command -v "$cc" > /dev/null; then
    echo "c-lint: $cc not found on PATH (clang comes with the Swift toolchain; gcc: apt-get install gcc)" >&2
    exit 1
  fi
  files=0
  for target in "${targets[@]}"; do
    for f in "Sources/$target"/*.c; do
      # shellcheck disable=SC2086  # extra flags are one word or none
      if ! "$cc" "${common[@]}" ${extra[$cc]} -I"Sources/$target/include" "$f"; then
        echo "c-lint: $cc: $f" >&2
        status=1
      fi
      files=$((files + 1))
    done
  done
  echo "c-lint: $cc ($("$cc" -dumpversion)): $files files"
done
exit "$status"

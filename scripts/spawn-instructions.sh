#!/usr/bin/env bash
# Instructions per spawn + stop + join, counted by callgrind: a figure that,
# unlike the latency cases' microseconds, does not move with the load on this
# noisy machine. Builds a small probe package against this checkout, runs
# 2,000 and 4,000 rounds of each side, and prints the difference divided by
# 2,000 (start-up cancels out):
#   raw      pthread_create of a thread that returns at once; pthread_join
#   killable KillableThread { ctx.sleep(3600 s) }; requestStop(); join()
# Needs valgrind. Usage: scripts/spawn-instructions.sh  (about a minute)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
. "$repo/scripts/lib/probe-package.sh"
probe_package_init "$repo"
cat > "$work/Sources/probe/main.swift" <<'SWIFT'
import Glibc
import ThreadKill
// In a function: a closure in top-level code would be main-actor isolated.
func spawn(rounds: Int, killable: Bool) throws {
    _ = try KillableThread { _ in }.join()  // ThreadKill's one-time set-up, either way
    for _ in 0..<rounds {
        if killable {
            let thread = try KillableThread(name: "probe") { ctx in try ctx.sleep(for: .seconds(3600)) }
            try thread.requestStop()
            _ = try thread.join()
        } else {
            var thread = pthread_t()
            precondition(pthread_create(&thread, nil, { _ in nil }, nil) == 0)
            pthread_join(thread, nil)
        }
    }
}
try spawn(rounds: Int(CommandLine.arguments[1])!, killable: CommandLine.arguments[2] == "killable")
SWIFT
probe_package_build
cp "$work/.build/release/probe" "$work/probe.bin"
strip -g "$work/probe.bin"  # valgrind cannot read the Swift toolchain's debug info
count() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$work/probe.bin" "$1" "$2" 2>&1 |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
for side in raw killable; do
    small=$(count 2000 "$side")
    large=$(count 4000 "$side")
    echo "$side: $(( (large - small) / 2000 )) instructions per spawn+stop+join"
done

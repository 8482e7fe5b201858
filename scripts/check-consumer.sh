#!/usr/bin/env bash
# Builds and runs a separate package that depends on ThreadKill the way users
# will: `.package(url:from:)` on a tagged clone. Fails if ThreadKill cannot be
# used as a versioned dependency (for example because of unsafe build flags),
# or if the consumer resolves any package besides ThreadKill
# (Docs/Dependencies.md).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

git clone -q "$repo" "$work/ThreadKill"
git -C "$work/ThreadKill" -c user.name=ci -c user.email=ci@localhost tag -a 0.1.0 -m "consumer check" HEAD

mkdir -p "$work/Consumer/Sources/Consumer"
cat > "$work/Consumer/Package.swift" <<SWIFT
// swift-tools-version: 6.1
import PackageDescription
let package = Package(
    name: "Consumer",
    dependencies: [.package(url: "file://$work/ThreadKill", from: "0.1.0")],
    targets: [.executableTarget(name: "Consumer", dependencies: [.product(name: "ThreadKill", package: "ThreadKill")])]
)
SWIFT
# The consumer declares a KillableThread of its own, so it must reach
# ThreadKill's by the module-qualified name: no type may be named after the module.
cat > "$work/Consumer/Sources/Consumer/main.swift" <<'SWIFT'
import ThreadKill
struct KillableThread {}  // the consumer's own type of the same name
let worker = try ThreadKill.KillableThread(name: "consumer") { ctx in try ctx.sleep(for: .seconds(3600)) }
try worker.requestStop()
let outcome = try worker.join()
_ = KillableThread()
print("consumer: \(outcome.report?.reason.rawValue ?? "not stopped"), \(ThreadKill.KillableThreads.liveThreads.count) live")
SWIFT
out=$(cd "$work/Consumer" && swift run -q Consumer 2>&1)
echo "$out"
[[ "$out" == *"consumer: stop requested, 0 live"* ]]

# SwiftPM resolves every dependency the ThreadKill package declares, whichever
# product is used: the consumer's graph must be ThreadKill alone.
deps=$(cd "$work/Consumer" && swift package show-dependencies)
echo "$deps"
packages=$(grep -c '── ' <<<"$deps" || true)
if [[ "$packages" != 1 || "$deps" != *"── threadkill<"* ]]; then
  echo "error: a consumer of the ThreadKill product resolves more than ThreadKill:" >&2
  echo "$deps" >&2
  exit 1
fi

#!/usr/bin/env bash
# Where a mass interrupt's time goes, per side, beyond latency case (h)'s
# wall clock: 10,000 threads (128 KiB stacks) blocked in read(2) on a pipe,
# each signalled, then each joined, in a fresh process per run. For the
# window from the first kill to the last join it prints the process's CPU
# time per thread (getrusage: user + system, every thread), the wall time,
# voluntary context switches and minor page faults, and for ThreadKill the
# watchdog thread's own CPU time (/proc, clock ticks of 10 ms):
#   raw      pthread_kill with a handler without SA_RESTART (EINTR); pthread_join
#   killable KillableThread { ctx.read }; interrupt(); join()
# Then, once: the watchdog's CPU time over one second while 1,000 interrupts
# stay pending with their signals in flight (threads blocked in a plain
# read(2) outside any region, where the signal is blocked).
# Usage: scripts/mass-interrupt.sh [RUNS] [THREADS]   (default 3 runs of 10,000)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-3}
threads=${2:-10000}
. "$repo/scripts/lib/probe-package.sh"
probe_package_init "$repo"
cat > "$work/Sources/probe/main.swift" <<'SWIFT'
import Glibc
import ThreadKill

nonisolated(unsafe) var fds: [Int32] = [0, 0]
let signo = __libc_current_sigrtmin() + 5  // not ThreadKill's (it probes from SIGRTMAX - 6 down)

func usage() -> (cpu: Double, voluntary: Int, faults: Int) {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    let cpu = Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e6 + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec)
    return (cpu, u.ru_nvcsw, u.ru_minflt)
}
func micros() -> Double { var t = timespec(); clock_gettime(CLOCK_MONOTONIC, &t); return Double(t.tv_sec) * 1e6 + Double(t.tv_nsec) / 1e3 }
/// Lines of /proc/self/task/*/FILE, one per thread.
func taskFiles(_ file: String) -> [String] {
    guard let dir = opendir("/proc/self/task") else { return [] }
    defer { closedir(dir) }
    var lines: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        if name.first == "." { continue }
        guard let f = fopen("/proc/self/task/\(name)/\(file)", "r") else { continue }
        var buffer = [CChar](repeating: 0, count: 512)
        if fgets(&buffer, 512, f) != nil { lines.append(String(cString: buffer)) }
        fclose(f)
    }
    return lines
}
/// Waits until `count` threads are in read(2) (syscall 0).
func waitInRead(_ count: Int) {
    while taskFiles("syscall").filter({ $0.hasPrefix("0 ") }).count < count { usleep(1000) }
}
/// The watchdog thread's user + system clock ticks.
func watchdogTicks() -> Int {
    guard let line = taskFiles("stat").first(where: { $0.contains("(threadkill-wd)") }) else { return 0 }
    let fields = line.split(separator: ")")[1].split(separator: " ")
    return Int(fields[11])! + Int(fields[12])!
}

func run(count: Int, killable: Bool) throws {
    precondition(pipe(&fds) == 0)
    _ = try KillableThread { _ in }.join()  // ThreadKill's one-time set-up, either way
    var action = sigaction()
    action.__sigaction_handler.sa_handler = { _ in }
    sigaction(signo, &action, nil)
    var raw: [pthread_t] = []
    var handles: [KillableThread<Void>] = []
    if killable {
        for _ in 0..<count {
            handles.append(try KillableThread(stackSize: 128 * 1024) { ctx in
                var byte: UInt8 = 0
                _ = try withUnsafeMutableBytes(of: &byte) { try ctx.read(fds[0], into: $0) }
            })
        }
    } else {
        var attr = pthread_attr_t()
        pthread_attr_init(&attr)
        pthread_attr_setstacksize(&attr, 128 * 1024)
        for _ in 0..<count {
            var thread = pthread_t()
            precondition(pthread_create(&thread, &attr, { _ in var byte: UInt8 = 0; _ = read(fds[0], &byte, 1); return nil }, nil) == 0)
            raw.append(thread)
        }
    }
    waitInRead(count)
    let (start, startTicks, before) = (micros(), watchdogTicks(), usage())
    if killable {
        for thread in handles { try thread.interrupt() }
        for thread in handles { _ = try thread.join() }
    } else {
        for thread in raw { pthread_kill(thread, signo) }
        for thread in raw { pthread_join(thread, nil) }
    }
    let (end, endTicks, after) = (micros(), watchdogTicks(), usage())
    let side = killable ? "killable" : "raw     "
    print("\(side)  cpu/thread \(Int((after.cpu - before.cpu) / Double(count))) µs  wall \(Int((end - start) / 1000)) ms  voluntary switches \(after.voluntary - before.voluntary)  minor faults \(after.faults - before.faults)"
          + (killable ? "  watchdog cpu \((endTicks - startTicks) * 10) ms" : ""))
}
/// `count` interrupts left pending for a second, their signals in flight.
func pending(count: Int) throws {
    precondition(pipe(&fds) == 0)
    var handles: [KillableThread<Void>] = []
    for _ in 0..<count {
        handles.append(try KillableThread(stackSize: 128 * 1024) { ctx in
            var byte: UInt8 = 0
            _ = read(fds[0], &byte, 1)  // outside any region: the signal stays blocked
            try ctx.checkpoint()
        })
    }
    waitInRead(count)
    let startTicks = watchdogTicks()
    for thread in handles { try thread.interrupt() }
    sleep(1)
    print("watchdog cpu over 1 s with \(count) interrupts pending in flight: \((watchdogTicks() - startTicks) * 10) ms")
    var bytes = [UInt8](repeating: 0, count: count)
    precondition(write(fds[1], &bytes, count) == count)
    for thread in handles { _ = try thread.join() }
}
if CommandLine.arguments[1] == "pending" {
    try pending(count: Int(CommandLine.arguments[2])!)
} else {
    try run(count: Int(CommandLine.arguments[1])!, killable: CommandLine.arguments[2] == "killable")
}
SWIFT
probe_package_build
for _ in $(seq "$runs"); do
    for side in raw killable; do "$work/.build/release/probe" "$threads" "$side"; done
done
"$work/.build/release/probe" pending 1000

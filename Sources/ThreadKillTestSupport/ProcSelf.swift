// Readers of /proc that the fixture program and the tests both use, on top
// of the stress engine's `ProcSelf` (entries, first lines, resident size).
#if canImport(Glibc)
import Glibc
#endif
import CPthreadShim
import ThreadKillStress

/// The fields of `/proc/self/task/TID/syscall`: the number, six arguments, sp, pc.
public func syscallFields(tid: Int32) -> [String] {
    (ProcSelf.firstLine("/proc/self/task/\(tid)/syscall") ?? "").split(separator: " ").map(String.init)
}

/// Whether thread `tid` of this process is inside system call `nr` now.
public func isInSyscall(tid: Int32, _ nr: Int) -> Bool {
    syscallFields(tid: tid).first.flatMap { Int($0) } == nr
}

/// The value of field `name` ("VmRSS", "SigPnd", …) in a `status` file of
/// /proc (`/proc/PID/status`, `/proc/self/task/TID/status`), without the
/// spaces and tabs around it; nil if the file or the field is not there.
public func statusField(_ path: String, _ name: String) -> String? {
    guard let file = fopen(path, "r") else { return nil }
    defer { fclose(file) }
    var buffer = [CChar](repeating: 0, count: 256)
    while fgets(&buffer, Int32(buffer.count), file) != nil {
        let line = String(decoding: buffer.prefix { $0 != 0 && $0 != 10 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if line.hasPrefix(name + ":") {
            return String(line.dropFirst(name.count + 1).trimmingPrefix(while: { $0 == " " || $0 == "\t" }))
        }
    }
    return nil
}

/// This process's threads: kernel thread id and name (`/proc/self/task/*/comm`).
public func threads() -> [(id: Int32, name: String)] {
    ProcSelf.entries("/proc/self/task").compactMap { tid in
        guard let id = Int32(tid), let name = ProcSelf.firstLine("/proc/self/task/\(tid)/comm") else { return nil }
        return (id, name)
    }
}

/// The names of this process's threads as the kernel shows them, in directory order.
public func threadNames() -> [String] { threads().map(\.name) }

/// Whether ThreadKill's watchdog is asleep with nothing to do: in read(2) on
/// its timer, and every timerfd of this process disarmed. It then runs no
/// Swift code until a new request arms its timer. A fixture that forks and
/// runs Swift code in the child waits for this (Docs/Fork.md).
public func watchdogIdle() -> Bool {
    guard let watchdog = threads().first(where: { $0.name == "threadkill-wd" }) else { return true }
    guard isInSyscall(tid: watchdog.id, Int(CPthreadShim_SYS_read)) else { return false }
    return ProcSelf.entries("/proc/self/fd").allSatisfy { fd in
        var target = [CChar](repeating: 0, count: 64)
        let n = readlink("/proc/self/fd/\(fd)", &target, target.count)
        guard n > 0, String(decoding: target.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self) == "anon_inode:[timerfd]" else { return true }
        return statusField("/proc/self/fdinfo/\(fd)", "it_value") == "(0, 0)"
    }
}

/// The program `name` in the directory of the running executable (`swift
/// build` puts the fixture, the CLI and the test bundle side by side).
public func siblingExecutable(_ name: String) -> String {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    precondition(n > 0, "readlink /proc/self/exe failed")
    let path = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return path[..<path.lastIndex(of: "/")!] + "/" + name
}

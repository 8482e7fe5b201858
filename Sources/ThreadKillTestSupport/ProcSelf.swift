// Readers of /proc that the fixture program and the tests both use.
#if canImport(Glibc)
import Glibc
#endif

/// The first line of a small text file (without its newline), or nil.
private func firstLine(_ path: String) -> String? {
    guard let file = fopen(path, "r") else { return nil }
    defer { fclose(file) }
    var buffer = [CChar](repeating: 0, count: 256)
    guard fgets(&buffer, Int32(buffer.count), file) != nil else { return nil }
    return String(decoding: buffer.prefix { $0 != 0 && $0 != 10 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// The names in a directory, less `.` and `..`; empty if it cannot be read.
public func directoryEntries(_ path: String) -> [String] {
    guard let dir = opendir(path) else { return [] }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}

/// The fields of `/proc/self/task/TID/syscall`: the number, six arguments, sp, pc.
public func syscallFields(tid: Int32) -> [String] {
    (firstLine("/proc/self/task/\(tid)/syscall") ?? "").split(separator: " ").map(String.init)
}

/// Whether thread `tid` of this process is inside system call `nr` now.
public func isInSyscall(tid: Int32, _ nr: Int) -> Bool {
    syscallFields(tid: tid).first.flatMap { Int($0) } == nr
}

/// This process's threads: kernel thread id and name (`/proc/self/task/*/comm`).
public func threads() -> [(id: Int32, name: String)] {
    directoryEntries("/proc/self/task").compactMap { tid in
        guard let id = Int32(tid), let name = firstLine("/proc/self/task/\(tid)/comm") else { return nil }
        return (id, name)
    }
}

/// The names of this process's threads as the kernel shows them, in directory order.
public func threadNames() -> [String] { threads().map(\.name) }

/// Resident set size in bytes (`/proc/self/statm`, second field).
public func residentBytes() -> Int {
    let fields = (firstLine("/proc/self/statm") ?? "").split(separator: " ")
    return (fields.count > 1 ? Int(fields[1]) ?? 0 : 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
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

#if canImport(Glibc)
import Glibc
#endif

/// What the kernel says about this process, from `/proc`.
public enum ProcSelf {
    /// Names in a `/proc` directory, less `.` and `..`; empty if it cannot be read.
    public static func entries(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// The first line of a small text file (without its newline), or nil.
    public static func firstLine(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = read(fd, &buffer, buffer.count)
        guard n >= 0 else { return nil }
        return String(decoding: buffer[0..<n].prefix { $0 != 10 }, as: UTF8.self)
    }

    /// Threads of this process (`/proc/self/task`).
    public static var threadCount: Int { entries("/proc/self/task").count }

    /// Open descriptors (`/proc/self/fd`), less the one used to list them.
    public static var descriptorCount: Int { entries("/proc/self/fd").count - 1 }

    /// Resident set size in bytes (`/proc/self/statm`, second field).
    public static var residentBytes: Int {
        guard let line = firstLine("/proc/self/statm") else { return 0 }
        let fields = line.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// This process's children, live or zombie, as "pid state" (scans `/proc/*/stat`).
    public static var children: [String] {
        let me = getpid()
        return entries("/proc").compactMap { name -> String? in
            guard Int32(name) != nil, let (state, ppid) = stateAndParent("/proc/\(name)/stat"), ppid == me else { return nil }
            return "\(name) \(state)"
        }
    }

    /// One line per thread: tid, name, state and kernel wait channel.
    public static var threadDump: [String] {
        entries("/proc/self/task").sorted { (Int($0) ?? 0) < (Int($1) ?? 0) }.map { tid in
            let stat = firstLine("/proc/self/task/\(tid)/stat") ?? ""
            let name = stat.firstIndex(of: "(").flatMap { open in
                stat.lastIndex(of: ")").map { String(stat[stat.index(after: open)..<$0]) }
            } ?? "?"
            let state = stateAndParent("/proc/self/task/\(tid)/stat")?.state ?? "?"
            let wchan = firstLine("/proc/self/task/\(tid)/wchan") ?? "?"
            return "  tid \(tid) \(name) state \(state) wchan \(wchan.isEmpty ? "-" : wchan)"
        }
    }

    private static func stateAndParent(_ path: String) -> (state: String, ppid: Int32)? {
        guard let line = firstLine(path), let close = line.lastIndex(of: ")") else { return nil }
        let fields = line[line.index(after: close)...].split(separator: " ")
        guard fields.count > 1, let ppid = Int32(fields[1]) else { return nil }
        return (String(fields[0]), ppid)
    }
}

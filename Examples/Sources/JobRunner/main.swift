// A job runner that isolates a crashing C library call in an IsolatedProcess.
//
// Each record is parsed by example_parse_record, a C function with a bug: a
// record starting with "!" makes it dereference a null pointer. Run in a
// thread, that SIGSEGV would take the whole program down (no thread-kill can
// help: the crash is the C code's own). Run in an IsolatedProcess, it kills
// only that job's child process; the runner sees `.signaled(SIGSEGV)` and
// carries on with the next record.
#if canImport(Glibc)
import Glibc
#endif
import CExampleLibrary
import ThreadKill

/// The job: runs in a child process (the same executable, in worker mode).
let parse = IsolatedProcess.register("parse-record") { (record: String) -> Int in
    Int(example_parse_record(record))
}

// In a worker, runs the job and exits; in the runner, returns at once.
IsolatedProcess.runWorkerIfRequested()

let records = ["alpha", "!directive", "beta"]
var crashes = 0, parsed = 0
for record in records {
    let process = try IsolatedProcess.start(parse, input: record, standardError: .discard)
    let result = try process.wait(timeout: .seconds(30)) ?? process.terminate(grace: .seconds(1))
    switch result.outcome {
    case .returned(let sum):
        parsed += 1
        print("job-runner: \(record.debugDescription) → \(sum)")
    case .signaled(let signal):
        crashes += 1
        print("job-runner: \(record.debugDescription) crashed its process with \(signal); the runner carries on")
    default:
        print("job-runner: \(record.debugDescription) ended unexpectedly: \(result.outcome)")
    }
}
print("job-runner: \(parsed) parsed, \(crashes) crashed in isolation, runner alive")
exit(parsed == 2 && crashes == 1 ? 0 : 1)

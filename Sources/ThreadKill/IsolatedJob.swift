import Synchronization

/// A job that runs in a child process: a name registered in the executable,
/// with the types of its input and output.
///
/// Get one from ``IsolatedProcess/register(_:_:)`` in the program that runs
/// the job, or build one by name when the job lives in another executable:
///
/// ```swift
/// let render = IsolatedJob<Scene, Image>("render")
/// let image = try IsolatedProcess.run(render, input: scene, timeout: .seconds(30),
///                                     executable: "/usr/libexec/renderer")
/// ```
///
/// The types must match those the job was registered with: the input and
/// output cross the process boundary as JSON.
public struct IsolatedJob<Input: Codable & Sendable, Output: Codable & Sendable>: Sendable, Hashable {
    /// The name the job is registered under.
    public let name: String

    /// A reference to the job registered as `name`; nothing is checked until
    /// a worker runs it.
    public init(_ name: String) {
        self.name = name
    }
}

/// The jobs this executable can run in worker mode, by name.
enum JobTable {
    typealias Body = @Sendable ([UInt8]) -> JobReply

    private static let jobs = Mutex<[String: Body]>([:])

    static func register<Input: Codable & Sendable, Output: Codable & Sendable>(
        _ name: String, _ body: @escaping @Sendable (Input) throws -> Output
    ) {
        let erased: Body = { bytes in
            let input: Input
            do {
                input = try JobCoding.decode(Input.self, from: bytes)
            } catch {
                return .badInput("job \(name) cannot decode its input as \(Input.self): \(error)")
            }
            let output: Output
            do {
                output = try body(input)
            } catch {
                return .threw(typeName: String(reflecting: type(of: error)), message: String(describing: error))
            }
            do {
                return .value(try JobCoding.encode(output))
            } catch {
                return .badOutput("job \(name) cannot encode its output \(Output.self): \(error)")
            }
        }
        jobs.withLock { jobs in
            precondition(jobs[name] == nil, "IsolatedProcess.register: a job named \"\(name)\" is already registered; give each job its own name")
            jobs[name] = erased
        }
    }

    static func body(named name: String) -> Body? {
        jobs.withLock { $0[name] }
    }
}

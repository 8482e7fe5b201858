#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How job inputs and outputs cross the process boundary: JSON, through the
/// toolchain's FoundationEssentials (see Docs/IsolatedProcess.md for why).
enum JobCoding {
    static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        Array(try JSONEncoder().encode(value))
    }

    static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(bytes))
    }
}

/// The one message a worker writes back: a tag byte, an 8-byte little-endian
/// payload length, the payload. A reply cut short (the worker died while
/// writing) does not parse, and the process's exit status speaks instead.
enum JobReply: Equatable {
    /// The job returned; the payload is its output, encoded.
    case value([UInt8])
    /// The job threw.
    case threw(typeName: String, message: String)
    /// No job of that name is registered in the worker's executable.
    case unknownJob(String)
    /// The input could not be decoded as the job's input type.
    case badInput(String)
    /// The job's output could not be encoded.
    case badOutput(String)

    private struct Thrown: Codable {
        var typeName: String
        var message: String
    }

    var encoded: [UInt8] {
        let (tag, payload): (UInt8, [UInt8])
        switch self {
        case .value(let bytes): (tag, payload) = (0, bytes)
        case .threw(let typeName, let message):
            (tag, payload) = (1, (try? JobCoding.encode(Thrown(typeName: typeName, message: message))) ?? [])
        case .unknownJob(let name): (tag, payload) = (2, Array(name.utf8))
        case .badInput(let message): (tag, payload) = (3, Array(message.utf8))
        case .badOutput(let message): (tag, payload) = (4, Array(message.utf8))
        }
        var bytes = [tag]
        withUnsafeBytes(of: UInt64(payload.count).littleEndian) { bytes += $0 }
        return bytes + payload
    }

    /// Parses a complete reply; nil for an empty, short or malformed one.
    init?(decoding bytes: [UInt8]) {
        guard bytes.count >= 9 else { return nil }
        var length: UInt64 = 0
        for (i, byte) in bytes[1..<9].enumerated() { length |= UInt64(byte) << (8 * UInt64(i)) }
        guard UInt64(bytes.count - 9) == length else { return nil }
        let payload = Array(bytes[9...])
        let text = String(decoding: payload, as: UTF8.self)
        switch bytes[0] {
        case 0: self = .value(payload)
        case 1:
            guard let thrown = try? JobCoding.decode(Thrown.self, from: payload) else { return nil }
            self = .threw(typeName: thrown.typeName, message: thrown.message)
        case 2: self = .unknownJob(text)
        case 3: self = .badInput(text)
        case 4: self = .badOutput(text)
        default: return nil
        }
    }
}

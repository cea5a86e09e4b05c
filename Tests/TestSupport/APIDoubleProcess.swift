import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The lab's Kubernetes API double run on its own, as plain HTTP on loopback (`--tcp`), for tests of
/// Parvester's Kubernetes client that need no lab, no root and no TLS. One process, one cluster; it
/// counts the requests it gets, and takes the same fault switches as in the lab.
public final class APIDoubleProcess: @unchecked Sendable {
    public let url: String
    private let process: Process

    public init() throws {
        let lab = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Lab")
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-u", "-m", "kubeapi.server", "--tcp", "127.0.0.1:0"]
        process.currentDirectoryURL = lab
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // The first line names the port; it comes as soon as the socket listens.
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = stdout.fileHandleForReading.availableData
            guard !chunk.isEmpty else { throw APIDoubleError("the API double exited before it listened") }
            line.append(chunk)
        }
        let text = String(decoding: line, as: UTF8.self)
        guard let range = text.range(of: "http://") else { throw APIDoubleError("unexpected first line from the API double: \(text)") }
        url = String(text[range.lowerBound...].prefix { !$0.isWhitespace })
    }

    deinit {
        // SIGKILL: a child started from a test thread inherits its blocked signals, SIGTERM among them.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// A request to the double's own /_lab/ endpoints.
    @discardableResult
    public func lab(_ method: String, _ path: String, _ body: [String: Any]? = nil) throws -> [String: Any] {
        var request = URLRequest(url: URL(string: url + path)!)
        request.httpMethod = method
        if let body { request.httpBody = try JSONSerialization.data(withJSONObject: body) }
        let result = Blocking<Data>()
        URLSession.shared.dataTask(with: request) { data, _, error in result.put(data ?? Data((error.map { "\($0)" } ?? "").utf8)) }.resume()
        return (try JSONSerialization.jsonObject(with: result.take())) as? [String: Any] ?? [:]
    }

    /// Requests counted since the last reset: "total", per method, "paths" ("GET /api": n), "userAgents".
    public func requests() throws -> [String: Any] { try lab("GET", "/_lab/requests")["standalone"] as? [String: Any] ?? ["total": 0] }

    public func resetRequests() throws { try lab("DELETE", "/_lab/requests") }

    /// Queues a fault for the next `count` requests: `["mode": "status", "code": 503, "count": 2]`.
    public func fault(_ fault: [String: Any]) throws { try lab("POST", "/_lab/faults", fault.merging(["cluster": "standalone"]) { $1 }) }
}

public struct APIDoubleError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

private final class Blocking<T>: @unchecked Sendable {
    private let semaphore = DispatchSemaphore(value: 0)
    private var value: T?
    func put(_ v: T) { value = v; semaphore.signal() }
    func take() -> T { semaphore.wait(); return value! }
}

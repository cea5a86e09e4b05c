import Foundation

/// Runs a local program for a test and collects what it printed. Tests may start processes (the
/// product never does for ssh, curl or kubectl): the built binary, the lab script, sha256sum, python3.
public struct LocalProcess {
    public struct Output: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// `executable` is a path, or a program name looked up on PATH through /usr/bin/env.
    @discardableResult
    public static func run(_ executable: String, _ arguments: [String] = [], input: Data? = nil,
                           environment: [String: String] = [:], directory: URL? = nil) throws -> Output {
        let process = makeProcess(executable, arguments, environment: environment, directory: directory)
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = input == nil ? FileHandle.nullDevice : stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        if let input {
            stdin.fileHandleForWriting.write(input)
            try stdin.fileHandleForWriting.close()
        }
        // Read stderr on the side so a chatty program cannot fill one pipe while we wait on the other.
        let errors = ErrorCollector(stderr.fileHandleForReading)
        let out = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Output(status: process.terminationStatus, stdout: String(decoding: out, as: UTF8.self),
                      stderr: String(decoding: errors.wait(), as: UTF8.self))
    }

    /// Like `run`, but waits without holding a thread: long runs (a whole `parvester up`) must not tie
    /// up Swift's small cooperative pool while other tests run.
    public static func runAsync(_ executable: String, _ arguments: [String] = [], environment: [String: String] = [:],
                                directory: URL? = nil, started: (@Sendable (Int32) -> Void)? = nil) async throws -> Output {
        let process = makeProcess(executable, arguments, environment: environment, directory: directory)
        let stdout = Pipe(), stderr = Pipe()
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = stdout
        process.standardError = stderr
        let out = ErrorCollector(stdout.fileHandleForReading)
        let errors = ErrorCollector(stderr.fileHandleForReading)
        let exited = AsyncExit()
        process.terminationHandler = { exited.finish($0.terminationStatus) }
        try process.run()
        started?(process.processIdentifier)
        let status = await exited.wait()
        return Output(status: status, stdout: String(decoding: out.wait(), as: UTF8.self), stderr: String(decoding: errors.wait(), as: UTF8.self))
    }

    /// Runs a program and hands each line of its stdout, as it comes, to `onLine` with the process id
    /// (to signal it from there). Waits without holding a thread.
    public static func runStreaming(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                                    onLine: @escaping @Sendable (String, Int32) -> Void) async throws -> Output {
        let process = makeProcess(executable, arguments, environment: environment, directory: nil)
        let stdout = Pipe(), stderr = Pipe()
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = stdout
        process.standardError = stderr
        let errors = ErrorCollector(stderr.fileHandleForReading)
        let lines = LineStream()
        let exited = AsyncExit()
        process.terminationHandler = { exited.finish($0.terminationStatus) }
        try process.run()
        let pid = process.processIdentifier
        let reader = stdout.fileHandleForReading
        let finished = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            while true {
                let chunk = reader.availableData
                if chunk.isEmpty { break }
                for line in lines.add(chunk) { onLine(line, pid) }
            }
            finished.signal()
        }
        let status = await exited.wait()
        finished.wait()
        return Output(status: status, stdout: lines.all, stderr: String(decoding: errors.wait(), as: UTF8.self))
    }

    /// `executable` is a path, or a program name looked up on PATH through /usr/bin/env.
    private static func makeProcess(_ executable: String, _ arguments: [String], environment: [String: String], directory: URL?) -> Process {
        let process = Process()
        if executable.hasPrefix("/") {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [executable] + arguments
        }
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        if let directory { process.currentDirectoryURL = directory }
        return process
    }

    /// The built binaries sit next to the test runner.
    public static func builtProduct(_ name: String) -> URL {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent(name)
    }
}

private final class ErrorCollector: @unchecked Sendable {
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            data = handle.readDataToEndOfFile()
            done.signal()
        }
    }

    func wait() -> Data {
        done.wait()
        return data
    }
}

/// A process's exit, awaited without blocking a thread.
private final class AsyncExit: @unchecked Sendable {
    private let lock = NSLock()
    private var status: Int32?
    private var waiter: CheckedContinuation<Int32, Never>?

    func finish(_ code: Int32) {
        lock.lock()
        status = code
        let waiting = waiter
        waiter = nil
        lock.unlock()
        waiting?.resume(returning: code)
    }

    func wait() async -> Int32 {
        await withCheckedContinuation { continuation in
            lock.lock()
            if let status {
                lock.unlock()
                continuation.resume(returning: status)
            } else {
                waiter = continuation
                lock.unlock()
            }
        }
    }
}

/// Splits a byte stream into lines, keeping everything seen.
private final class LineStream: @unchecked Sendable {
    private var pending = Data()
    private var seen = Data()

    func add(_ chunk: Data) -> [String] {
        seen.append(chunk)
        pending.append(chunk)
        var lines: [String] = []
        while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
            lines.append(String(decoding: pending[pending.startIndex..<newline], as: UTF8.self))
            pending = Data(pending[pending.index(after: newline)...])
        }
        return lines
    }

    var all: String { String(decoding: seen, as: UTF8.self) }
}

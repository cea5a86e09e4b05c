import Foundation
import Kube

/// How a console session ended.
public enum ConsoleEnd: Sendable, Equatable {
    /// The user pressed the escape key (Ctrl+]).
    case escaped
    /// `--duration` ran out.
    case durationElapsed
    /// The server closed the console (KubeVirt does when the VMI stops).
    case closedByServer(code: UInt16, reason: String)
}

/// One of KubeVirt's streaming subresources of a VMI (`console`, `vnc`), reached as virtctl reaches it:
/// a WebSocket with the `plain.kubevirt.io` subprotocol carrying raw bytes in binary messages.
public struct VMIStream: Sendable {
    public let credentials: KubeCredentials
    public let namespace: String
    public let name: String
    public let subresource: String

    public init(credentials: KubeCredentials, namespace: String, name: String, subresource: String) {
        self.credentials = credentials
        self.namespace = namespace
        self.name = name
        self.subresource = subresource
    }

    public static let subprotocol = "plain.kubevirt.io"

    public var path: String {
        "/apis/subresources.kubevirt.io/v1/namespaces/\(namespace)/virtualmachineinstances/\(name)/\(subresource)"
    }

    /// Connects, waiting while the VMI is not there or not Running (virt-api answers 404 and 400 then:
    /// "Unable to connect to VirtualMachineInstance because phase is Scheduling instead of Running"), and
    /// while the server cannot be reached (a dropped connection being re-made). Says once what it waits
    /// for, and again whenever the reason changes.
    public func connect(timeout: TimeInterval, notice: (String) -> Void) throws -> KubeWebSocket {
        let deadline = Date().addingTimeInterval(timeout)
        var said = ""
        while true {
            let reason: String
            do {
                return try KubeWebSocket.connect(credentials, path: path, subprotocol: Self.subprotocol)
            } catch let refused as WebSocketRefused where refused.status == 400 || refused.status == 404 || refused.status >= 500 {
                reason = refused.message
            } catch let error as KubeError where error.kind == .transport || error.kind == .timeout {
                reason = error.message
            }
            guard Date() < deadline else {
                throw KubeError(.timeout, "gave up waiting for \(namespace)/\(name)'s \(subresource) after \(Int(timeout))s: \(reason)")
            }
            if reason != said {
                notice("waiting for \(namespace)/\(name)'s \(subresource) (\(reason)); retrying every second for up to \(Int(deadline.timeIntervalSinceNow))s")
                said = reason
            }
            Thread.sleep(forTimeInterval: 1)
        }
    }
}

/// The serial console: bytes from `input` go to the VM, the VM's bytes go to `output`, until the escape
/// byte, the duration, or the server's close. Blocking; run it on a thread of its own.
///
/// Idle consoles are kept alive with pings every `keepalive` seconds (load balancers and proxies drop
/// idle connections: kubevirt#6493, #16981); a connection that drops, or that answers no ping for two
/// intervals (at least 15 s), is made again.
public struct VMConsoleSession: Sendable {
    public let stream: VMIStream
    public var waitTimeout: TimeInterval = 300
    public var keepalive: TimeInterval = 20
    public var duration: TimeInterval?
    /// Ctrl+] on a terminal in raw mode; nil when input is not a terminal (every byte is the VM's).
    public var escapeByte: UInt8?

    public init(stream: VMIStream) { self.stream = stream }

    public func run(input: Int32, output: Int32, notice: (String) -> Void) throws -> ConsoleEnd {
        let end = duration.map { Date().addingTimeInterval($0) }
        var inputOpen = true
        var socket = try stream.connect(timeout: waitTimeout, notice: notice)
        notice("connected to \(stream.namespace)/\(stream.name)'s console" + (escapeByte != nil ? " (Ctrl+] leaves)" : ""))
        var lastPing = Date()
        var pingOutstanding: Date?
        while true {
            if let end, Date() >= end { socket.close(); return .durationElapsed }
            do {
                for message in try socket.readAvailable() {
                    switch message {
                    case .binary(let data), .text(let data): try Self.writeAll(output, data)
                    case .pong: pingOutstanding = nil
                    case .ping: break
                    case .close(let code, let reason): socket.close(); return .closedByServer(code: code, reason: reason)
                    }
                }
                // Two intervals, and never less than 15 s: a loaded API server or proxy may answer late.
                let patience = max(2 * keepalive, 15)
                if let sent = pingOutstanding, Date().timeIntervalSince(sent) > patience {
                    throw KubeError(.transport, "no answer to a keepalive ping for \(Int(patience))s")
                }
                if Date().timeIntervalSince(lastPing) >= keepalive {
                    try socket.send(.ping, Data("parvester".utf8))
                    lastPing = Date()
                    if pingOutstanding == nil { pingOutstanding = lastPing }
                }
                var descriptors = [pollfd(fd: socket.fileDescriptor, events: Int16(POLLIN), revents: 0)]
                if inputOpen { descriptors.append(pollfd(fd: input, events: Int16(POLLIN), revents: 0)) }
                let untilPing = keepalive - Date().timeIntervalSince(lastPing)
                let untilEnd = end.map { $0.timeIntervalSinceNow } ?? 1
                _ = poll(&descriptors, nfds_t(descriptors.count), Int32(max(0.01, min(untilPing, untilEnd, 0.5)) * 1000))
                if inputOpen, descriptors.count > 1, descriptors[1].revents != 0 {
                    var buffer = [UInt8](repeating: 0, count: 4096)
                    let count = read(input, &buffer, buffer.count)
                    if count <= 0 {
                        inputOpen = false  // stdin ended (a pipe or /dev/null): keep showing the console
                    } else {
                        var bytes = Array(buffer[0..<count])
                        if let escape = escapeByte, let at = bytes.firstIndex(of: escape) {
                            bytes = Array(bytes[..<at])
                            if !bytes.isEmpty { try socket.send(.binary, Data(bytes)) }
                            socket.close()
                            return .escaped
                        }
                        try socket.send(.binary, Data(bytes))
                    }
                }
            } catch let error as KubeError where error.kind == .transport || error.kind == .timeout {
                notice("the console connection dropped (\(error.message)); reconnecting")
                socket = try stream.connect(timeout: waitTimeout, notice: notice)
                notice("reconnected to \(stream.namespace)/\(stream.name)'s console")
                lastPing = Date()
                pingOutstanding = nil
            }
        }
    }

    static func writeAll(_ fd: Int32, _ data: Data) throws {
        try data.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 {
                    if errno == EINTR || errno == EAGAIN { continue }
                    throw ConsoleOutputClosed()
                }
                offset += written
            }
        }
    }
}

/// The reader of the console's output went away (a closed pipe): the session ends quietly.
public struct ConsoleOutputClosed: Error {}

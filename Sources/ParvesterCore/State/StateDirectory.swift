import Foundation
import SSH
import Glibc

/// Parvester's local state for one cluster: only what cannot be read back from the nodes (a generated
/// token before the first server holds it), the fetched kubeconfig, and the last run's report.
///
/// `$PARVESTER_STATE_DIR/CLUSTER`, else `$XDG_STATE_HOME/parvester/CLUSTER`, else
/// `~/.local/state/parvester/CLUSTER`. Files are 0600 in a 0700 directory.
public struct StateDirectory: Sendable {
    public let path: String

    public init(path: String) { self.path = path }

    public static func `default`(cluster: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> StateDirectory {
        let root: String
        if let explicit = environment["PARVESTER_STATE_DIR"], !explicit.isEmpty {
            root = explicit
        } else if let xdg = environment["XDG_STATE_HOME"], !xdg.isEmpty {
            root = xdg + "/parvester"
        } else {
            root = UserHome.path + "/.local/state/parvester"
        }
        return StateDirectory(path: root + "/" + cluster)
    }

    public var tokenPath: String { path + "/token" }
    public var kubeconfigPath: String { path + "/kubeconfig" }
    public var lastRunPath: String { path + "/last-run.json" }

    public func read(_ file: String) -> Data? { FileManager.default.contents(atPath: file) }

    /// Writes atomically (temporary file, fsync, rename) with mode 0600, so a killed run leaves either
    /// the old file or the new one.
    public func write(_ data: Data, to file: String) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let temporary = file + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StateError("cannot write \(temporary): \(String(cString: strerror(errno)))") }
        let written = data.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd)
        Glibc.close(fd)
        guard written == data.count, synced == 0, rename(temporary, file) == 0 else {
            unlink(temporary)
            throw StateError("cannot write \(file): \(String(cString: strerror(errno)))")
        }
    }
}

public struct StateError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

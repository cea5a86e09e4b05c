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

    /// The file's bytes; nil when it is missing, or is a symbolic link (never followed: see `write`).
    public func read(_ file: String) -> Data? {
        let fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { return n == 0 ? data : nil }
            data.append(contentsOf: buffer[0..<n])
        }
    }

    /// Writes atomically (temporary file, fsync, rename) with mode 0600, so a killed run leaves either
    /// the old file or the new one. The token and the cluster-admin kubeconfig pass through here, so
    /// nothing another local user planted is trusted: the temporary file is created exclusively without
    /// following links, the directory must be this user's and closed to others, and a file being
    /// replaced must be this user's regular file.
    public func write(_ data: Data, to file: String) throws {
        try prepareDirectory()
        try checkReplaceable(file)
        var fd: Int32 = -1
        var temporary = ""
        for _ in 0..<8 {
            temporary = file + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            if fd >= 0 || errno != EEXIST { break }
        }
        guard fd >= 0 else { throw StateError("cannot write \(temporary): \(String(cString: strerror(errno)))") }
        let written = data.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd)
        Glibc.close(fd)
        guard written == data.count, synced == 0, rename(temporary, file) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw StateError("cannot write \(file): \(reason)")
        }
        // The rename itself reaches the disk only with the directory.
        let directory = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directory >= 0 { fsync(directory); Glibc.close(directory) }
    }

    /// Creates the directory 0700, or checks the one there: ours, and not writable by group or others
    /// (anyone who can write in it can swap the token or kubeconfig between our write and our read).
    private func prepareDirectory() throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        var info = stat()
        guard stat(path, &info) == 0 else { throw StateError("cannot use the state directory \(path): \(String(cString: strerror(errno)))") }
        guard info.st_mode & S_IFMT == S_IFDIR else { throw StateError("the state directory \(path) is not a directory") }
        guard info.st_uid == geteuid() else {
            throw StateError("the state directory \(path) belongs to uid \(info.st_uid), not to you (uid \(geteuid())); give a directory of your own with --state-dir")
        }
        if info.st_mode & 0o022 != 0 {
            throw StateError("the state directory \(path) is writable by \(info.st_mode & 0o002 != 0 ? "every user" : "its group") (mode \(String(info.st_mode & 0o777, radix: 8))); "
                             + "it holds the cluster token and kubeconfig: run `chmod 700 \(path)`")
        }
    }

    private func checkReplaceable(_ file: String) throws {
        var info = stat()
        guard lstat(file, &info) == 0 else { return }  // nothing there yet
        switch info.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFLNK: throw StateError("\(file) is a symbolic link; Parvester does not write through links in its state directory. Remove it")
        default: throw StateError("\(file) is not a regular file; remove it")
        }
        guard info.st_uid == geteuid() else {
            throw StateError("\(file) belongs to uid \(info.st_uid), not to you (uid \(geteuid())); someone else put it there. Check it, then remove it")
        }
    }
}

public struct StateError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

import CLibSSH2
import Foundation

/// Where upload bytes come from: memory, or a local file streamed in chunks (never read whole).
public enum UploadSource: Sendable {
    case data(Data)
    case file(String)
}

/// Bytes sent so far and the total, for progress bars.
public typealias TransferProgress = @Sendable (_ sent: Int64, _ total: Int64) -> Void

/// An SFTP subsystem on a session.
final class SFTPClient {
    let session: LibSSH2Session
    let raw: OpaquePointer
    /// ~1 MiB per write was fastest against OpenSSH here; 32 KiB ran at about half the speed.
    static let chunkSize = 1 << 20

    init(session: LibSSH2Session, deadline: Date) throws {
        self.session = session
        guard let sftp = try session.retry("starting SFTP", until: deadline, { libssh2_sftp_init(session.raw) }) else {
            throw session.error(.sftp, "cannot start SFTP: \(session.lastErrorMessage)")
        }
        raw = sftp
    }

    deinit { _ = libssh2_sftp_shutdown(raw) }

    /// An SFTP failure, or, when the session itself failed (libssh2's 60 s read timeout, the socket), a
    /// node that stopped answering: that is what the caller must hear, not an SFTP status of 0.
    func error(_ what: String, path: String) -> SSHError {
        if LibSSH2Session.lostConnectionErrors.contains(session.lastErrno) {
            return session.error(.disconnected, "the node stopped answering: \(what) \(path) failed (\(session.lastErrorMessage))")
        }
        let code = libssh2_sftp_last_error(raw)
        return session.error(.sftp, "\(what) \(path): \(code == 0 ? session.lastErrorMessage : Self.statusText(code))")
    }

    static func statusText(_ code: UInt) -> String {
        switch code {
        case LIBSSH2_FX_NO_SUCH_FILE: return "no such file or directory"
        case LIBSSH2_FX_PERMISSION_DENIED: return "permission denied"
        case LIBSSH2_FX_FAILURE: return "failed (SFTP status 4)"
        case LIBSSH2_FX_NO_SPACE_ON_FILESYSTEM: return "no space left on the device"
        case LIBSSH2_FX_FILE_ALREADY_EXISTS: return "file already exists"
        case LIBSSH2_FX_NO_SUCH_PATH: return "no such path"
        default: return "SFTP status \(code)"
        }
    }

    /// Writes the whole source to a new file at `path` (which must not exist), created with `mode`.
    func write(_ source: UploadSource, to path: String, mode: Int, deadline: Date, progress: TransferProgress?) throws {
        let flags = UInt(LIBSSH2_FXF_WRITE | LIBSSH2_FXF_CREAT | LIBSSH2_FXF_EXCL)
        guard let handle = try session.retry("opening \(path)", until: deadline, {
            libssh2_sftp_open_ex(raw, path, UInt32(path.utf8.count), flags, mode, LIBSSH2_SFTP_OPENFILE)
        }) else { throw error("cannot create", path: path) }
        var closed = false
        defer { if !closed { _ = libssh2_sftp_close_handle(handle) } }

        var sent: Int64 = 0
        switch source {
        case .data(let data):
            let total = Int64(data.count)
            var offset = 0
            while offset < data.count {
                let end = min(offset + Self.chunkSize, data.count)
                try writeChunk(handle, data[offset..<end], path: path, deadline: deadline)
                offset = end
                sent = Int64(offset)
                progress?(sent, total)
            }
        case .file(let local):
            guard let file = FileHandle(forReadingAtPath: local) else {
                throw session.error(.configuration, "cannot read local file \(local)")
            }
            defer { try? file.close() }
            let total = (try? FileManager.default.attributesOfItem(atPath: local)[.size] as? NSNumber)?.int64Value ?? 0
            while let chunk = try file.read(upToCount: Self.chunkSize), !chunk.isEmpty {
                try writeChunk(handle, chunk, path: path, deadline: deadline)
                sent += Int64(chunk.count)
                progress?(sent, total)
            }
        }
        // Exact permissions, whatever the server's umask did to the mode given at open.
        var attributes = LIBSSH2_SFTP_ATTRIBUTES()
        attributes.flags = UInt(LIBSSH2_SFTP_ATTR_PERMISSIONS)
        attributes.permissions = UInt(mode)
        let set = try session.retry("setting the mode of \(path)", until: deadline) { libssh2_sftp_fstat_ex(handle, &attributes, 1) }
        if set != 0 { throw error("cannot set the mode of", path: path) }
        // close waits for the server to acknowledge every write: part of the transfer's time.
        let result = try session.retry("closing \(path)", until: deadline) { libssh2_sftp_close_handle(handle) }
        closed = true
        if result != 0 { throw error("cannot finish writing", path: path) }
    }

    private func writeChunk(_ handle: OpaquePointer, _ chunk: Data, path: String, deadline: Date) throws {
        try chunk.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let base = bytes.baseAddress!.advanced(by: offset).assumingMemoryBound(to: CChar.self)
                let remaining = bytes.count - offset
                // After EAGAIN the same call is repeated with the same arguments, as libssh2 requires.
                let n = try session.retry("writing \(path)", until: deadline) { libssh2_sftp_write(handle, base, remaining) }
                if n < 0 { throw error("cannot write", path: path) }
                offset += n
            }
        }
    }

    func read(_ path: String, deadline: Date) throws -> Data {
        guard let handle = try session.retry("opening \(path)", until: deadline, {
            libssh2_sftp_open_ex(raw, path, UInt32(path.utf8.count), UInt(LIBSSH2_FXF_READ), 0, LIBSSH2_SFTP_OPENFILE)
        }) else { throw error("cannot open", path: path) }
        defer { _ = try? session.retry("closing \(path)", until: deadline) { libssh2_sftp_close_handle(handle) } }
        var data = Data()
        let size = Self.chunkSize
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: size)
        defer { buffer.deallocate() }
        while true {
            let n = try session.retry("reading \(path)", until: deadline) { libssh2_sftp_read(handle, buffer, size) }
            if n == 0 { return data }
            if n < 0 { throw error("cannot read", path: path) }
            data.append(UnsafeRawPointer(buffer).assumingMemoryBound(to: UInt8.self), count: n)
        }
    }

    /// SFTP v3 rename, which refuses to replace an existing file: true when it moved the file.
    func renameIfAbsent(_ source: String, to target: String, deadline: Date) -> Bool {
        let result = try? session.retry("renaming \(source)", until: deadline) {
            libssh2_sftp_rename_ex(raw, source, UInt32(source.utf8.count), target, UInt32(target.utf8.count), 0)
        }
        return result == 0
    }

    func unlink(_ path: String, deadline: Date) {
        _ = try? session.retry("removing \(path)", until: deadline) { libssh2_sftp_unlink_ex(raw, path, UInt32(path.utf8.count)) }
    }
}

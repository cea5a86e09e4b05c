import CLibSSH2
import Foundation

/// What to do with a host key that known_hosts does not list. A changed key is always refused.
public enum HostKeyPolicy: String, Sendable {
    /// Refuse, naming the host and the key's fingerprint.
    case strict
    /// Record the new key in known_hosts and go on (OpenSSH's `accept-new`).
    case acceptNew
}

/// Checks a server's host key against an OpenSSH known_hosts file: plain and hashed (`|1|`) entries,
/// `[host]:port` for ports other than 22. Markers (`@cert-authority`, `@revoked`) and lines libssh2
/// cannot read are skipped rather than failing the whole file.
struct HostKeyVerifier {
    let knownHostsPath: String
    let policy: HostKeyPolicy

    func verify(_ session: LibSSH2Session, host: String, port: Int) throws {
        var keyLength = 0
        var keyType: Int32 = 0
        guard let key = libssh2_session_hostkey(session.raw, &keyLength, &keyType) else {
            throw session.error(.protocolError, "the server sent no host key")
        }
        let fingerprint = Self.fingerprint(session)
        let typeName = Self.typeName(keyType)
        // OpenSSH writes and matches `[host]:port` for every port but 22. libssh2's port-aware matcher
        // also accepts a plain `host` entry for other ports, which OpenSSH does not: match literally.
        let name = port == 22 ? host : "[\(host)]:\(port)"

        guard let hosts = libssh2_knownhost_init(session.raw) else {
            throw session.error(.configuration, "libssh2 could not allocate a known_hosts table")
        }
        defer { libssh2_knownhost_free(hosts) }
        let lines = try readLines(session)
        for line in lines {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") || trimmed.hasPrefix("@") { continue }
            _ = libssh2_knownhost_readline(hosts, trimmed, trimmed.utf8.count, LIBSSH2_KNOWNHOST_FILE_OPENSSH)
        }

        let mask = Int32(LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW) | Self.knownHostKeyBits(keyType)
        var entry: UnsafeMutablePointer<libssh2_knownhost>?
        let result = libssh2_knownhost_check(hosts, name, key, keyLength, mask, &entry)
        switch result {
        case LIBSSH2_KNOWNHOST_CHECK_MATCH:
            return
        case LIBSSH2_KNOWNHOST_CHECK_MISMATCH:
            throw session.error(.hostKeyChanged, """
                the host key has CHANGED (now \(typeName) \(fingerprint)). Someone may be intercepting the \
                connection, or the machine was reinstalled. If you know why, remove the old entry with \
                `ssh-keygen -R '\(name)' -f \(knownHostsPath)` and run again.
                """)
        case LIBSSH2_KNOWNHOST_CHECK_NOTFOUND:
            guard policy == .acceptNew else {
                throw session.error(.hostKeyUnknown, """
                    unknown host key \(typeName) \(fingerprint) (not in \(knownHostsPath)). Check the fingerprint \
                    on the machine (`ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub`), then add it, or run with \
                    --accept-new-host-keys to record it.
                    """)
            }
            try record(session, name: name, typeName: typeName, key: key, length: keyLength)
        default:
            throw session.error(.configuration, "cannot check the host key against \(knownHostsPath): \(session.lastErrorMessage)")
        }
    }

    private func readLines(_ session: LibSSH2Session) throws -> [String] {
        guard FileManager.default.fileExists(atPath: knownHostsPath) else { return [] }
        guard let data = FileManager.default.contents(atPath: knownHostsPath) else {
            throw session.error(.configuration, "cannot read known_hosts file \(knownHostsPath)")
        }
        return String(decoding: data, as: UTF8.self).components(separatedBy: "\n")
    }

    /// Appends `name type base64` (as OpenSSH's accept-new does), creating the file 0600 if needed.
    private func record(_ session: LibSSH2Session, name: String, typeName: String, key: UnsafePointer<CChar>, length: Int) throws {
        let encoded = Data(bytes: key, count: length).base64EncodedString()
        let directory = (knownHostsPath as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        if !FileManager.default.fileExists(atPath: knownHostsPath),
           !FileManager.default.createFile(atPath: knownHostsPath, contents: nil, attributes: [.posixPermissions: 0o600]) {
            throw session.error(.configuration, "cannot create known_hosts file \(knownHostsPath)")
        }
        guard let handle = FileHandle(forWritingAtPath: knownHostsPath) else {
            throw session.error(.configuration, "cannot write known_hosts file \(knownHostsPath)")
        }
        defer { try? handle.close() }
        handle.seekToEndOfFile()
        handle.write(Data("\(name) \(typeName) \(encoded)\n".utf8))
    }

    /// OpenSSH's `SHA256:` fingerprint of the server's key.
    static func fingerprint(_ session: LibSSH2Session) -> String {
        guard let hash = libssh2_hostkey_hash(session.raw, LIBSSH2_HOSTKEY_HASH_SHA256) else { return "(no fingerprint)" }
        let bytes = Data(bytes: hash, count: 32)
        return "SHA256:" + bytes.base64EncodedString().replacingOccurrences(of: "=", with: "")
    }

    static func typeName(_ type: Int32) -> String {
        switch type {
        case LIBSSH2_HOSTKEY_TYPE_RSA: return "ssh-rsa"
        case LIBSSH2_HOSTKEY_TYPE_DSS: return "ssh-dss"
        case LIBSSH2_HOSTKEY_TYPE_ECDSA_256: return "ecdsa-sha2-nistp256"
        case LIBSSH2_HOSTKEY_TYPE_ECDSA_384: return "ecdsa-sha2-nistp384"
        case LIBSSH2_HOSTKEY_TYPE_ECDSA_521: return "ecdsa-sha2-nistp521"
        case LIBSSH2_HOSTKEY_TYPE_ED25519: return "ssh-ed25519"
        default: return "unknown-key-type"
        }
    }

    static func knownHostKeyBits(_ type: Int32) -> Int32 {
        switch type {
        case LIBSSH2_HOSTKEY_TYPE_RSA: return LIBSSH2_KNOWNHOST_KEY_SSHRSA
        case LIBSSH2_HOSTKEY_TYPE_DSS: return LIBSSH2_KNOWNHOST_KEY_SSHDSS
        case LIBSSH2_HOSTKEY_TYPE_ECDSA_256: return LIBSSH2_KNOWNHOST_KEY_ECDSA_256
        case LIBSSH2_HOSTKEY_TYPE_ECDSA_384: return LIBSSH2_KNOWNHOST_KEY_ECDSA_384
        case LIBSSH2_HOSTKEY_TYPE_ECDSA_521: return LIBSSH2_KNOWNHOST_KEY_ECDSA_521
        case LIBSSH2_HOSTKEY_TYPE_ED25519: return LIBSSH2_KNOWNHOST_KEY_ED25519
        default: return LIBSSH2_KNOWNHOST_KEY_UNKNOWN
        }
    }
}

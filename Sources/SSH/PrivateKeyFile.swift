import Foundation

/// What a private key file is, read from its header without decrypting it: enough to ask for a
/// passphrase only when needed and to explain keys libssh2 1.10 cannot use.
struct PrivateKeyFile {
    enum Format: Equatable {
        /// `-----BEGIN OPENSSH PRIVATE KEY-----` with its key type and cipher.
        case openSSH(keyType: String, encrypted: Bool)
        /// PKCS#8 `BEGIN PRIVATE KEY` / `BEGIN ENCRYPTED PRIVATE KEY`.
        case pkcs8(encrypted: Bool)
        /// Legacy PEM such as `BEGIN RSA PRIVATE KEY` / `BEGIN EC PRIVATE KEY`.
        case legacyPEM(label: String, encrypted: Bool)
        case unknown
    }

    let path: String
    let format: Format

    init(path: String) throws {
        self.path = path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CocoaError(.fileReadNoSuchFile)
        }
        format = Self.inspect(String(decoding: data, as: UTF8.self))
    }

    var isEncrypted: Bool {
        switch format {
        case .openSSH(_, let encrypted), .pkcs8(let encrypted), .legacyPEM(_, let encrypted): return encrypted
        case .unknown: return false
        }
    }

    var isRSA: Bool {
        switch format {
        case .openSSH(let type, _): return type == "ssh-rsa"
        case .legacyPEM(let label, _): return label == "RSA PRIVATE KEY"
        default: return false
        }
    }

    static func inspect(_ text: String) -> Format {
        let lines = text.components(separatedBy: .newlines)
        guard let begin = lines.first(where: { $0.hasPrefix("-----BEGIN ") }) else { return .unknown }
        let label = begin.dropFirst("-----BEGIN ".count).replacingOccurrences(of: "-----", with: "")
        switch label {
        case "OPENSSH PRIVATE KEY":
            let body = lines.drop { !$0.hasPrefix("-----BEGIN") }.dropFirst().prefix { !$0.hasPrefix("-----END") }.joined()
            guard let blob = Data(base64Encoded: body) else { return .unknown }
            return parseOpenSSH(Array(blob)) ?? .unknown
        case "PRIVATE KEY": return .pkcs8(encrypted: false)
        case "ENCRYPTED PRIVATE KEY": return .pkcs8(encrypted: true)
        default: return .legacyPEM(label: label, encrypted: text.contains("Proc-Type: 4,ENCRYPTED"))
        }
    }

    /// openssh-key-v1: magic, cipher, kdf, kdf options, key count, then the public key blob whose first
    /// string is the key type.
    private static func parseOpenSSH(_ bytes: [UInt8]) -> Format? {
        let magic = Array("openssh-key-v1\0".utf8)
        guard bytes.starts(with: magic) else { return nil }
        var offset = magic.count
        func string() -> [UInt8]? {
            guard offset + 4 <= bytes.count else { return nil }
            let length = bytes[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
            offset += 4
            guard length >= 0, offset + length <= bytes.count else { return nil }
            defer { offset += length }
            return Array(bytes[offset..<offset + length])
        }
        guard let cipher = string(), string() != nil, string() != nil else { return nil }
        offset += 4  // number of keys
        guard let publicBlob = string() else { return nil }
        var inner = 0
        guard publicBlob.count >= 4 else { return nil }
        let typeLength = publicBlob[0..<4].reduce(0) { $0 << 8 | Int($1) }
        inner = 4
        guard inner + typeLength <= publicBlob.count else { return nil }
        let type = String(decoding: publicBlob[inner..<inner + typeLength], as: UTF8.self)
        return .openSSH(keyType: type, encrypted: String(decoding: cipher, as: UTF8.self) != "none")
    }
}

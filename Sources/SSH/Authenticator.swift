import CLibSSH2
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// How to log in. Tried in order: the identity files given, the SSH agent, the usual ~/.ssh keys when
/// no file was given, then a password only if one was configured explicitly.
public struct SSHCredentials: Sendable {
    public var user: String
    public var identityFiles: [String]
    public var useAgent: Bool
    public var password: String?
    /// For encrypted keys; nil asks on the terminal when there is one.
    public var passphrase: String?
    /// The agent's socket; nil means SSH_AUTH_SOCK.
    public var agentSocket: String?
    /// Environment variable the command line reads the key passphrase from.
    public static let passphraseVariable = "PARVESTER_KEY_PASSPHRASE"

    public init(user: String, identityFiles: [String] = [], useAgent: Bool = true, password: String? = nil,
                passphrase: String? = ProcessInfo.processInfo.environment[SSHCredentials.passphraseVariable],
                agentSocket: String? = ProcessInfo.processInfo.environment["SSH_AUTH_SOCK"]) {
        self.user = user
        self.identityFiles = identityFiles
        self.useAgent = useAgent
        self.password = password
        self.passphrase = passphrase
        self.agentSocket = agentSocket
    }

    static var defaultIdentityFiles: [String] {
        ["id_ed25519", "id_ecdsa", "id_rsa"].map { UserHome.path + "/.ssh/" + $0 }
    }
}

struct Authenticator {
    let credentials: SSHCredentials
    let deadline: Date

    func authenticate(_ session: LibSSH2Session) throws {
        var tried: [String] = []
        var hints: [String] = []
        let user = credentials.user

        let explicit = !credentials.identityFiles.isEmpty
        for path in credentials.identityFiles {
            guard FileManager.default.fileExists(atPath: path) else {
                throw session.error(.configuration, "identity file \(path) does not exist")
            }
            if try tryKeyFile(session, path: path, hints: &hints) { return }
            tried.append("key \(path)")
        }
        if credentials.useAgent, let socket = credentials.agentSocket, !socket.isEmpty {
            if try tryAgent(session, socket: socket) { return }
            tried.append("ssh-agent")
        }
        if !explicit {
            for path in SSHCredentials.defaultIdentityFiles where FileManager.default.fileExists(atPath: path) {
                if try tryKeyFile(session, path: path, hints: &hints) { return }
                tried.append("key \(path)")
            }
        }
        if let password = credentials.password {
            let result = try session.retry("password authentication", until: deadline) {
                libssh2_userauth_password_ex(session.raw, user, UInt32(user.utf8.count), password, UInt32(password.utf8.count), nil)
            }
            if result == 0 { return }
            tried.append("password")
        }
        let what = tried.isEmpty ? "no key, agent or password was available" : "tried \(tried.joined(separator: ", "))"
        throw session.error(.authentication, (["authentication as \(user) failed (\(what))"] + hints).joined(separator: ". "))
    }

    private func tryKeyFile(_ session: LibSSH2Session, path: String, hints: inout [String]) throws -> Bool {
        let key: PrivateKeyFile
        do { key = try PrivateKeyFile(path: path) } catch {
            throw session.error(.configuration, "cannot read identity file \(path)")
        }
        var passphrase: String? = nil
        if key.isEncrypted {
            passphrase = credentials.passphrase ?? Self.prompt("Passphrase for \(path): ")
            guard passphrase != nil else {
                hints.append("\(path) is encrypted: set \(SSHCredentials.passphraseVariable) or run from a terminal to be asked")
                return false
            }
        }
        let user = credentials.user
        let result = try session.retry("public key authentication", until: deadline) {
            libssh2_userauth_publickey_fromfile_ex(session.raw, user, UInt32(user.utf8.count), nil, path, passphrase)
        }
        if result == 0 { return true }
        if key.isRSA {
            hints.append("""
                \(path) is an RSA key: libssh2 1.10 signs RSA keys only with SHA-1 (ssh-rsa), which OpenSSH 8.8 and \
                later refuse. Use an ed25519 or ECDSA key instead (`ssh-keygen -t ed25519`, then add the .pub to \
                the node's authorized_keys)
                """)
        } else if case .pkcs8 = key.format {
            hints.append("\(path) is a PKCS#8 key, which libssh2 1.10 cannot use; convert it with `ssh-keygen -p -f \(path)` (writes OpenSSH format)")
        } else if result == LIBSSH2_ERROR_FILE && key.isEncrypted {
            hints.append("the passphrase for \(path) is wrong")
        }
        return false
    }

    private func tryAgent(_ session: LibSSH2Session, socket: String) throws -> Bool {
        guard let agent = libssh2_agent_init(session.raw) else { return false }
        libssh2_agent_set_identity_path(agent, socket)
        defer {
            libssh2_agent_disconnect(agent)
            libssh2_agent_free(agent)
        }
        guard libssh2_agent_connect(agent) == 0, libssh2_agent_list_identities(agent) == 0 else { return false }
        var previous: UnsafeMutablePointer<libssh2_agent_publickey>? = nil
        var identity: UnsafeMutablePointer<libssh2_agent_publickey>? = nil
        let user = credentials.user
        while libssh2_agent_get_identity(agent, &identity, previous) == 0 {
            let result = try session.retry("agent authentication", until: deadline) { libssh2_agent_userauth(agent, user, identity) }
            if result == 0 { return true }
            previous = identity
        }
        return false
    }

    /// Asks on the controlling terminal; nil when there is none (CI, pipes).
    static func prompt(_ text: String) -> String? {
        guard isatty(STDIN_FILENO) == 1, let answer = getpass(text) else { return nil }
        return String(cString: answer)
    }
}

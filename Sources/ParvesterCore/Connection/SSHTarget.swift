import Foundation
import SSH

/// Everything needed to open one node's session: where, as whom, with what checks, and through which
/// jump host.
public struct SSHTarget: Sendable {
    public var endpoint: SSHEndpoint
    public var credentials: SSHCredentials
    public var options: SSHOptions
    public var jump: JumpTarget?

    public struct JumpTarget: Sendable {
        public var endpoint: SSHEndpoint
        public var credentials: SSHCredentials
        /// Bastions are shared by every node behind them.
        public var key: String { "\(credentials.user)@\(endpoint.text)" }
    }
}

/// Settings of one run rather than of the inventory.
public struct ConnectionSettings: Sendable {
    public var hostKeyPolicy: HostKeyPolicy
    public var sudoPassword: String?
    public var keyPassphrase: String?
    public var sshConfig: SSHConfigFile?

    public init(hostKeyPolicy: HostKeyPolicy = .strict,
                sudoPassword: String? = ProcessInfo.processInfo.environment[SSHOptions.sudoPasswordVariable],
                keyPassphrase: String? = ProcessInfo.processInfo.environment[SSHCredentials.passphraseVariable],
                sshConfig: SSHConfigFile? = SSHConfigFile.userConfig()) {
        self.hostKeyPolicy = hostKeyPolicy
        self.sudoPassword = sudoPassword
        self.keyPassphrase = keyPassphrase
        self.sshConfig = sshConfig
    }
}

/// Combines a node's inventory settings with ~/.ssh/config: the config can supply `HostName`, `User`,
/// `Port`, `IdentityFile` and `ProxyJump` for the node's address used as a host alias; whatever the
/// inventory sets itself wins.
public enum SSHTargetResolver {
    public static func target(for node: Node, settings: ConnectionSettings) throws -> SSHTarget {
        let ssh = node.ssh
        let config = settings.sshConfig?.settings(for: node.address) ?? SSHConfigFile.Settings()
        let host = config.hostName ?? node.address
        let user = ssh.userIsExplicit ? ssh.user : (config.user ?? ssh.user)
        let port = ssh.portIsExplicit ? ssh.port : (config.port ?? ssh.port)
        let keys = ssh.identityFile.map { [$0] } ?? config.identityFiles.filter { FileManager.default.fileExists(atPath: $0) }
        let credentials = SSHCredentials(user: user, identityFiles: keys, passphrase: settings.keyPassphrase)
        let options = SSHOptions(connectTimeout: ssh.connectTimeout.seconds, knownHostsPath: ssh.knownHostsFile,
                                 hostKeyPolicy: settings.hostKeyPolicy, sudoPassword: settings.sudoPassword)

        var jump: SSHTarget.JumpTarget?
        if let bastion = ssh.bastion {
            jump = resolveJump(JumpHost(user: bastion.user, host: bastion.address, port: bastion.port),
                               identityFile: bastion.identityFile, fallbackUser: user, fallbackKeys: keys, settings: settings)
        } else if let proxy = config.proxyJump, let hop = try JumpHost.parse(proxy) {
            jump = resolveJump(hop, identityFile: nil, fallbackUser: user, fallbackKeys: keys, settings: settings)
        }
        return SSHTarget(endpoint: SSHEndpoint(host: host, port: port, name: node.name), credentials: credentials,
                         options: options, jump: jump)
    }

    private static func resolveJump(_ hop: JumpHost, identityFile: String?, fallbackUser: String, fallbackKeys: [String],
                                    settings: ConnectionSettings) -> SSHTarget.JumpTarget {
        let config = settings.sshConfig?.settings(for: hop.host) ?? SSHConfigFile.Settings()
        let keys = identityFile.map { [$0] } ?? (config.identityFiles.isEmpty ? fallbackKeys : config.identityFiles)
        return SSHTarget.JumpTarget(
            endpoint: SSHEndpoint(host: config.hostName ?? hop.host, port: hop.port ?? config.port ?? 22, name: "bastion \(hop.host)"),
            credentials: SSHCredentials(user: hop.user ?? config.user ?? fallbackUser, identityFiles: keys, passphrase: settings.keyPassphrase))
    }
}

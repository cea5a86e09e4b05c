/// Everything that can go wrong talking to a node, naming the node and what failed.
public struct SSHError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: Sendable, Hashable {
        /// The host name did not resolve.
        case dns
        /// Nothing listens on the port (sshd stopped, wrong port).
        case refused
        /// No route to the host.
        case unreachable
        /// No answer in time: connect, handshake, or a command.
        case timeout
        case hostKeyUnknown
        case hostKeyChanged
        case authentication
        /// sudo refused (needs a password, or the password was wrong).
        case become
        case channel
        case sftp
        /// The connection broke.
        case disconnected
        /// The SSH protocol failed (key exchange, bad packet).
        case protocolError
        /// Settings that cannot work (a missing key file, an unreadable known_hosts file).
        case configuration
    }

    public var kind: Kind
    /// `host:port` (IPv6 in brackets).
    public var endpoint: String
    /// The inventory's node name, when there is one.
    public var node: String?
    public var message: String

    public init(_ kind: Kind, endpoint: String, node: String? = nil, _ message: String) {
        self.kind = kind
        self.endpoint = endpoint
        self.node = node
        self.message = message
    }

    public var description: String {
        let who = node.map { "\($0) (\(endpoint))" } ?? endpoint
        return "\(who): \(message)"
    }
}

/// `host:port`, with IPv6 literals in brackets as OpenSSH writes them.
func endpointText(_ host: String, _ port: Int) -> String {
    host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
}

import Foundation
import YAML

/// A kubeconfig, as RKE2 writes it and kubectl reads it: what Parvester needs to reach one API server
/// (the current context's cluster and user), with the credentials kept in memory.
public struct Kubeconfig: Sendable {
    /// The parsed document, kept whole so that rewriting the server preserves everything else.
    public private(set) var document: YAMLNode
    public let source: String

    public init(text: String, source: String) throws {
        guard let document = try YAMLParser.parse(text, file: source), document.mapping != nil else {
            throw KubeError(.kubeconfig, "\(source) is not a kubeconfig (expected a mapping with clusters, users and contexts)")
        }
        self.document = document
        self.source = source
    }

    private func named(_ list: String, _ name: String?) -> YAMLNode? {
        let items = document[list]?.sequence ?? []
        if let name { return items.first { $0["name"]?.scalar?.value == name } }
        return items.first
    }

    private var context: YAMLNode? {
        named("contexts", document["current-context"]?.scalar?.value)?["context"]
    }

    private var cluster: YAMLNode? { named("clusters", context?["cluster"]?.scalar?.value)?["cluster"] }
    private var user: YAMLNode? { named("users", context?["user"]?.scalar?.value)?["user"] }

    public var server: String? { cluster?["server"]?.scalar?.value }

    /// What an HTTP client needs: the `*-data` fields decoded, or the files they name read (relative to
    /// the kubeconfig's directory, as kubectl does). `insecure-skip-tls-verify` is refused unless allowed.
    public func credentials(allowInsecure: Bool = false) throws -> KubeCredentials {
        guard let server, let url = URL(string: server), url.scheme == "https" else {
            throw KubeError(.kubeconfig, "\(source): the current context's cluster has no https server")
        }
        let insecure = cluster?["insecure-skip-tls-verify"]?.scalar?.value == "true"
        if insecure && !allowInsecure {
            throw KubeError(.kubeconfig, "\(source) sets insecure-skip-tls-verify: refused, since anyone between here and the cluster could read its credentials; give the cluster's CA, or pass --insecure-skip-tls-verify knowingly")
        }
        let directory = (source as NSString).deletingLastPathComponent
        func data(_ node: YAMLNode?, _ key: String) throws -> Data? {
            if let text = node?[key + "-data"]?.scalar?.value {
                guard let decoded = Data(base64Encoded: text.filter { !$0.isWhitespace }) else {
                    throw KubeError(.kubeconfig, "\(source): \(key)-data is not base64")
                }
                return decoded
            }
            guard let file = node?[key]?.scalar?.value else { return nil }
            let path = file.hasPrefix("/") ? file : directory + "/" + file
            guard let contents = FileManager.default.contents(atPath: path) else {
                throw KubeError(.kubeconfig, "\(source): cannot read \(key) \(path)")
            }
            return contents
        }
        return KubeCredentials(
            server: server.hasSuffix("/") ? String(server.dropLast()) : server,
            certificateAuthority: try data(cluster, "certificate-authority"),
            clientCertificate: try data(user, "client-certificate"),
            clientKey: try data(user, "client-key"),
            token: user?["token"]?.scalar?.value, insecure: insecure)
    }

    /// The kubeconfig kubectl would use: `--kubeconfig`, else the first existing file of `$KUBECONFIG`,
    /// else `~/.kube/config`.
    public static func load(explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
                            home: String) throws -> Kubeconfig {
        let candidates = explicit.map { [$0] }
            ?? (environment["KUBECONFIG"].flatMap { $0.isEmpty ? nil : $0.split(separator: ":").map(String.init) } ?? [home + "/.kube/config"])
        for path in candidates {
            if let data = FileManager.default.contents(atPath: path) {
                return try Kubeconfig(text: String(decoding: data, as: UTF8.self), source: path)
            }
        }
        throw KubeError(.kubeconfig, "no kubeconfig at \(candidates.joined(separator: ", ")); give --kubeconfig, or -i INVENTORY for a cluster `parvester up` built")
    }

    /// The same kubeconfig pointing at another server (RKE2 writes https://127.0.0.1:6443).
    public func withServer(_ server: String) -> Kubeconfig {
        var copy = self
        copy.document = Self.replacing(in: document, path: ["clusters"]) { clusters in
            .sequence((clusters.sequence ?? []).map { item in
                Self.replacing(in: item, path: ["cluster"]) { cluster in
                    Self.replacing(in: cluster, path: ["server"]) { _ in .string(server) }
                }
            })
        }
        return copy
    }

    /// The same kubeconfig with every cluster, user and context named `name` (RKE2 names them `default`).
    public func renamed(to name: String) -> Kubeconfig {
        var copy = self
        for list in ["clusters", "users", "contexts"] {
            copy.document = Self.replacing(in: copy.document, path: [list]) { items in
                .sequence((items.sequence ?? []).map { Self.replacing(in: $0, path: ["name"]) { _ in .string(name) } })
            }
        }
        copy.document = Self.replacing(in: copy.document, path: ["contexts"]) { items in
            .sequence((items.sequence ?? []).map { item in
                Self.replacing(in: item, path: ["context"]) { context in
                    Self.replacing(in: Self.replacing(in: context, path: ["cluster"]) { _ in .string(name) }, path: ["user"]) { _ in .string(name) }
                }
            })
        }
        copy.document = Self.replacing(in: copy.document, path: ["current-context"]) { _ in .string(name) }
        return copy
    }

    public func text() throws -> String { try YAMLEmitter.emit(document) }

    mutating func replaceDocument(_ node: YAMLNode) { document = node }

    private static func replacing(in node: YAMLNode, path: [String], _ change: (YAMLNode) -> YAMLNode) -> YAMLNode {
        guard let key = path.first, let pairs = node.mapping else { return node }
        let rest = Array(path.dropFirst())
        var found = false
        var updated = pairs.map { pair -> (String, YAMLNode) in
            let name = pair.key.scalar?.value ?? ""
            guard name == key else { return (name, pair.value) }
            found = true
            return (name, rest.isEmpty ? change(pair.value) : replacing(in: pair.value, path: rest, change))
        }
        if !found, rest.isEmpty { updated.append((key, change(.null))) }
        return .mapping(updated)
    }
}

/// How to reach and authenticate to one API server. The key stays in memory: libcurl gets it as a blob.
public struct KubeCredentials: Sendable {
    public var server: String
    public var certificateAuthority: Data?
    public var clientCertificate: Data?
    public var clientKey: Data?
    public var token: String?
    /// Skip verifying the server (only when the user asked for it, knowingly).
    public var insecure: Bool

    public init(server: String, certificateAuthority: Data?, clientCertificate: Data?, clientKey: Data?, token: String?, insecure: Bool = false) {
        self.insecure = insecure
        self.server = server
        self.certificateAuthority = certificateAuthority
        self.clientCertificate = clientCertificate
        self.clientKey = clientKey
        self.token = token
    }
}

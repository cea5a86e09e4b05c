import Foundation

/// Why talking to a Kubernetes API server failed, with what the user can do about it.
public struct KubeError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        case kubeconfig
        /// No HTTP answer: refused, timed out, reset (libcurl's code and message).
        case transport
        /// TLS verification failed (certificate chain or name).
        case tls
        /// The server answered with an error status; `status` holds its code.
        case api
        case timeout
        /// A manifest that is not a list of objects.
        case manifest
    }

    public var kind: Kind
    public var message: String
    /// The HTTP status for `.api`.
    public var status: Int?
    /// The `reason` of the API's Status body (NotFound, Conflict, ...).
    public var reason: String?

    public init(_ kind: Kind, _ message: String, status: Int? = nil, reason: String? = nil) {
        self.kind = kind
        self.message = message
        self.status = status
        self.reason = reason
    }

    public var description: String { message }

    /// An error answer of the API, with its Status message (`deployments.apps "x" is invalid: ...`).
    public static func status(_ response: KubeResponse, doing what: String) -> KubeError {
        let json = response.json
        let message = json?["message"] as? String ?? String(decoding: response.body.prefix(300), as: UTF8.self)
        return KubeError(.api, "\(what): \(response.status) \(json?["reason"] as? String ?? ""): \(message)",
                         status: response.status, reason: json?["reason"] as? String)
    }

    /// Worth trying again: the server was busy or the connection failed on the way.
    public var isTransient: Bool {
        switch kind {
        case .transport, .timeout: return true
        case .api: return status == 429 || (status ?? 0) >= 500
        case .kubeconfig, .tls, .manifest: return false
        }
    }
}

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

    /// A transport failure before any byte of the request left (connection refused, no such host).
    public var nothingSent = false

    public init(_ kind: Kind, _ message: String, status: Int? = nil, reason: String? = nil, nothingSent: Bool = false) {
        self.kind = kind
        self.message = message
        self.status = status
        self.reason = reason
        self.nothingSent = nothingSent
    }

    public var description: String { message }

    /// An error answer of the API, with its Status message (`deployments.apps "x" is invalid: ...`). A
    /// path the server does not serve at all (plain-text `404 page not found`, or a 503 from an
    /// aggregated API with no backend) is named as the API that is missing; an HTML page (a proxy or a
    /// web server where the API was expected) is described, not dumped.
    public static func status(_ response: KubeResponse, doing what: String) -> KubeError {
        let json = response.json
        let reason = json?["reason"] as? String
        let api = MissingAPI.name(forPath: response.path)
        let message: String
        if json == nil, response.contentType.contains("text/html") || response.body.first == UInt8(ascii: "<") {
            message = "\(what): the server answered \(response.status) with an HTML page, not the Kubernetes API; is the cluster address right?"
        } else if json == nil, response.status == 404 {
            message = "\(what): \(api) is not available (the server answers 404 page not found for \(response.path))"
        } else if response.status == 503, reason == "ServiceUnavailable" || json?["message"] as? String == "service unavailable",
                  MissingAPI.isAggregated(response.path) {
            message = "\(what): \(api) is not available (503 service unavailable: the API is registered but nothing answers for it)"
        } else {
            let text = json?["message"] as? String ?? String(decoding: response.body.prefix(300), as: UTF8.self)
            message = "\(what): \(response.status)\(reason.flatMap { $0.isEmpty ? nil : " " + $0 } ?? ""): \(text)"
        }
        return KubeError(.api, message, status: response.status, reason: reason)
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

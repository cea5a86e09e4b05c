import Foundation

/// Which failures are worth another try. Only what can heal: a connection that failed, a server that
/// asked to be asked again (429 or 5xx with Retry-After, as client-go's `checkWait` retries), and a
/// gateway or unavailable answer to a read. A deterministic answer (a 500 for a field the schema does
/// not declare, a 503 from an aggregated API with no backend) fails at once: sending it again only
/// makes the user wait for the same answer.
enum RetryPolicy {
    /// The longest Retry-After honoured; a server asking for more is treated as asking for this.
    static let longestWait: TimeInterval = 10

    /// Seconds to wait before trying again, or nil when the answer stands.
    static func delay(for response: KubeResponse, method: String, backoff: TimeInterval) -> TimeInterval? {
        if let asked = response.retryAfter, response.status == 429 || response.status >= 500 {
            return min(max(asked, 0.1), longestWait)
        }
        if method == "GET", [502, 503, 504].contains(response.status) { return backoff }
        return nil
    }

    /// A failure without an answer: tried again when nothing was sent, or when sending it twice does no
    /// harm (every method Parvester uses but POST).
    static func retries(_ error: KubeError, method: String) -> Bool {
        guard error.kind == .transport || error.kind == .timeout else { return false }
        return error.nothingSent || method != "POST"
    }
}

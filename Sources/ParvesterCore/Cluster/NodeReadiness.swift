import Kube

/// Waits until nodes are Ready as the Kubernetes API sees them.
enum NodeReadiness {
    static func wait(_ context: RunContext, for names: [String]) async throws {
        guard let kube = context.kube else { throw RunAbort("the API is not reachable: no kubeconfig yet") }
        let what = names.count == 1 ? "node \(names[0]) to be Ready" : "\(names.count) nodes to be Ready"
        try await Waiter.until(what, timeout: context.options.waitTimeout, interval: .milliseconds(500)) {
            let readiness = try await KubeNodes.readiness(kube)
            let waiting = names.filter { readiness[$0] != "True" }
            let seen = waiting.prefix(5).map { "\($0): \(readiness[$0].map { "Ready=\($0)" } ?? "not registered")" }.joined(separator: ", ")
            return (waiting.isEmpty, seen)
        }
    }
}


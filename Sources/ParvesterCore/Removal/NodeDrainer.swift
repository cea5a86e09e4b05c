import Foundation
import Kube

/// What `kubectl cordon` and `kubectl drain` do to one node, shared by removals and rolling upgrades:
/// pods leave through the Eviction API, so PodDisruptionBudgets are honoured (a 429 is retried after the
/// server's Retry-After, within --wait-timeout); DaemonSet pods and mirror pods stay, since their
/// controllers would only put them back.
enum NodeDrainer {
    struct PodRef: Sendable {
        var namespace: String
        var name: String
        var shown: String { "\(namespace)/\(name)" }
    }

    /// On a Node Parvester cordoned for a roll: why, so that it uncordons only what it cordoned.
    static let cordonMark = "parvester.io/cordoned-for"
    /// On a Node whose VMs a roll stopped: which ones (namespace/name, comma-separated), to start again.
    static let stoppedMachinesMark = "parvester.io/stopped-vms"

    /// Cordons or uncordons; a roll marks its cordon (`reason`), and uncordoning removes both marks.
    static func setUnschedulable(_ name: String, _ unschedulable: Bool, kube: KubeHTTPClient, reason: String? = nil) async throws {
        var patch: [String: Any] = ["spec": ["unschedulable": unschedulable]]
        if unschedulable, let reason { patch["metadata"] = ["annotations": [cordonMark: reason]] }
        if !unschedulable { patch["metadata"] = ["annotations": [cordonMark: NSNull()]] }
        try await patchNode(name, patch, kube: kube, doing: unschedulable ? "cordoning \(name)" : "uncordoning \(name)")
    }

    static func patchNode(_ name: String, _ patch: [String: Any], kube: KubeHTTPClient, doing: String) async throws {
        let response = try await kube.send("PATCH", "/api/v1/nodes/\(name)", body: try JSONSerialization.data(withJSONObject: patch),
                                           contentType: "application/merge-patch+json")
        guard response.status == 200 else { throw KubeError.status(response, doing: doing) }
    }

    static func evictable(on node: String, kube: KubeHTTPClient) async throws -> [PodRef] {
        let selector = "spec.nodeName=\(node)".addingPercentEncoding(withAllowedCharacters: .urlQueryValue) ?? node
        let response = try await kube.send("GET", "/api/v1/pods?fieldSelector=\(selector)")
        guard response.status == 200, let items = response.json?["items"] as? [[String: Any]] else {
            throw KubeError.status(response, doing: "listing the pods on \(node)")
        }
        return items.compactMap { item in
            let meta = item["metadata"] as? [String: Any] ?? [:]
            guard let namespace = meta["namespace"] as? String, let name = meta["name"] as? String, meta["deletionTimestamp"] == nil else { return nil }
            let owners = meta["ownerReferences"] as? [[String: Any]] ?? []
            if owners.contains(where: { $0["kind"] as? String == "DaemonSet" }) { return nil }
            if (meta["annotations"] as? [String: String])?["kubernetes.io/config.mirror"] != nil { return nil }
            let phase = (item["status"] as? [String: Any])?["phase"] as? String
            if phase == "Succeeded" || phase == "Failed" { return nil }
            return PodRef(namespace: namespace, name: name)
        }
    }

    static func wouldDrain(_ name: String, kube: KubeHTTPClient) async throws -> RunContext.Done {
        let pods = try await evictable(on: name, kube: kube)
        return pods.isEmpty ? .unchanged : .changed("would evict \(pods.count) pods: " + pods.prefix(8).map(\.shown).joined(separator: ", "))
    }

    static func drain(_ context: RunContext, _ node: Node, kube: KubeHTTPClient) async throws -> RunContext.Done {
        let pods = try await evictable(on: node.name, kube: kube)
        guard !pods.isEmpty else { return .unchanged }
        let deadline = Date().addingTimeInterval(context.options.waitTimeout)
        for pod in pods { try await evict(pod, kube: kube, deadline: deadline, context: context, node: node) }
        try await Waiter.until("the evicted pods to leave \(node.name)", timeout: max(1, deadline.timeIntervalSinceNow)) {
            let left = try await evictable(on: node.name, kube: kube).map(\.shown)
            let evicted = Set(pods.map(\.shown))
            let still = left.filter { evicted.contains($0) }
            return (still.isEmpty, "still there: " + still.prefix(5).joined(separator: ", "))
        }
        return .changed("evicted \(pods.count) pods")
    }

    /// One eviction; a 429 (a disruption budget allows none now) is retried after the server's Retry-After.
    private static func evict(_ pod: PodRef, kube: KubeHTTPClient, deadline: Date, context: RunContext, node: Node) async throws {
        let body = try JSONSerialization.data(withJSONObject: [
            "apiVersion": "policy/v1", "kind": "Eviction", "metadata": ["name": pod.name, "namespace": pod.namespace]])
        context.report.command(target: node.name, "evict pod \(pod.shown)")
        while true {
            let response = try await kube.request("POST", "/api/v1/namespaces/\(pod.namespace)/pods/\(pod.name)/eviction", body: body)
            switch response.status {
            case 200, 201, 404: return  // evicted, or gone already
            case 429:
                let why = ((response.json?["details"] as? [String: Any])?["causes"] as? [[String: Any]])?.first?["message"] as? String
                    ?? response.json?["message"] as? String ?? "a disruption budget allows no eviction now"
                let wait = min(max(response.retryAfter ?? 5, 1), 30)
                guard Date().addingTimeInterval(wait) < deadline else {
                    throw KubeError(.timeout, "pod \(pod.shown) could not be evicted within --wait-timeout: \(why). Scale the workload up or relax its PodDisruptionBudget, then run again",
                                    status: 429)
                }
                StepActivity.doing("evicting \(pod.shown): \(why); retrying in \(Int(wait)) s", limit: deadline.timeIntervalSinceNow)
                try await Task.sleep(for: .seconds(wait))
            default:
                throw KubeError.status(response, doing: "evicting pod \(pod.shown)")
            }
        }
    }
}

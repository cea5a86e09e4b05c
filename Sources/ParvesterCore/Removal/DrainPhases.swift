import Foundation
import Kube

/// A removal phase: works on the nodes `check-removal` (or `up --prune`) chose, and has nothing to do
/// when there are none.
protocol RemovalPhase: Phase {}

extension RemovalPhase {
    func targets(_ context: RunContext) -> [String] { context.removals.map(\.name) }
}

/// Marks the nodes unschedulable (`spec.unschedulable`, as `kubectl cordon`), so nothing new lands there.
struct CordonPhase: RemovalPhase {
    let id = "cordon"
    let title = "Cordon the nodes to remove"

    func describe(_ context: RunContext) async throws {
        await context.forEach(context.removalNodes()) { node in
            await context.step(id, node) {
                guard let kube = context.kube, let live = try await KubeNodes.get(kube, node.name) else { return .unchanged }
                return live.unschedulable ? .unchanged : .changed("would cordon")
            }
        }
    }

    func run(_ context: RunContext) async throws {
        let (kube, _) = try context.clusterClient()
        await context.forEach(context.removalNodes()) { node in
            await context.step(id, node) {
                guard let live = try await KubeNodes.get(kube, node.name) else { return .ok("its Node is gone already") }
                if live.unschedulable { return .unchanged }
                let response = try await kube.send("PATCH", "/api/v1/nodes/\(node.name)", body: Data(#"{"spec":{"unschedulable":true}}"#.utf8),
                                                   contentType: "application/merge-patch+json")
                guard response.status == 200 else { throw KubeError.status(response, doing: "cordoning \(node.name)") }
                return .changed("cordoned")
            }
        }
    }
}

/// Stops the VMs on the nodes (`--vms stop`): they are stopped, not moved; a later `up` starts the
/// inventory's VMs on the nodes left.
struct StopMachinesPhase: RemovalPhase {
    let id = "stop-vms"
    let title = "Stop the VMs on the nodes to remove"
    let settings: RemovalSettings

    func shouldRun(_ context: RunContext) -> Bool { settings.vms == .stop && !context.removals.isEmpty }

    func describe(_ context: RunContext) async throws {
        guard let kube = context.kube else { return }
        let found = try await RemovalChecks.machines(on: Set(context.removals.map(\.name)), kube: kube)
        for node in context.removalNodes() {
            let here = found.filter { $0.node == node.name }.map { "\($0.namespace)/\($0.name)" }
            await context.step(id, node) { here.isEmpty ? .unchanged : .changed("would stop \(here.joined(separator: ", "))") }
        }
    }

    func run(_ context: RunContext) async throws {
        let (kube, _) = try context.clusterClient()
        let found = try await RemovalChecks.machines(on: Set(context.removals.map(\.name)), kube: kube)
        let machines = VirtualMachineClient(client: kube)
        await context.forEach(context.removalNodes()) { node in
            let here = found.filter { $0.node == node.name }
            await context.step(id, node) {
                guard !here.isEmpty else { return .unchanged }
                for vm in here {
                    context.report.command(target: node.name, "stop VM \(vm.namespace)/\(vm.name)")
                    try await machines.perform(.stop, namespace: vm.namespace, name: vm.name, timeout: context.options.waitTimeout)
                }
                return .changed("stopped " + here.map { "\($0.namespace)/\($0.name)" }.joined(separator: ", "))
            }
        }
    }
}

/// Evicts the nodes' pods through the Eviction API, as `kubectl drain` does: PodDisruptionBudgets are
/// honoured (a 429 is retried after the server's Retry-After, within --wait-timeout); DaemonSet pods and
/// mirror pods stay, since their controllers would only put them back.
struct DrainPhase: RemovalPhase {
    let id = "drain"
    let title = "Drain the nodes to remove (Eviction API)"

    struct PodRef: Sendable {
        var namespace: String
        var name: String
        var shown: String { "\(namespace)/\(name)" }
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

    func describe(_ context: RunContext) async throws {
        await context.forEach(context.removalNodes()) { node in
            await context.step(id, node) {
                guard let kube = context.kube else { return .unchanged }
                let pods = try await Self.evictable(on: node.name, kube: kube)
                return pods.isEmpty ? .unchanged : .changed("would evict \(pods.count) pods: " + pods.prefix(8).map(\.shown).joined(separator: ", "))
            }
        }
    }

    func run(_ context: RunContext) async throws {
        let (kube, _) = try context.clusterClient()
        await context.forEach(context.removalNodes()) { node in
            await context.step(id, node) {
                let pods = try await Self.evictable(on: node.name, kube: kube)
                guard !pods.isEmpty else { return .unchanged }
                let deadline = Date().addingTimeInterval(context.options.waitTimeout)
                for pod in pods { try await evict(pod, kube: kube, deadline: deadline, context: context, node: node) }
                try await Waiter.until("the evicted pods to leave \(node.name)", timeout: max(1, deadline.timeIntervalSinceNow)) {
                    let left = try await Self.evictable(on: node.name, kube: kube).map(\.shown)
                    let evicted = Set(pods.map(\.shown))
                    let still = left.filter { evicted.contains($0) }
                    return (still.isEmpty, "still there: " + still.prefix(5).joined(separator: ", "))
                }
                return .changed("evicted \(pods.count) pods")
            }
        }
    }

    /// One eviction; a 429 (a disruption budget allows none now) is retried after the server's Retry-After.
    private func evict(_ pod: PodRef, kube: KubeHTTPClient, deadline: Date, context: RunContext, node: Node) async throws {
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

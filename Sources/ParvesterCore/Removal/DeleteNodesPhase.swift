import Foundation
import Kube

/// Deletes each Node object, servers one at a time: RKE2's etcd controller holds a server's Node with
/// its finalizer until it has removed the etcd member, so the Node going away means the member went.
/// The Node is never forced away (its finalizer stripped), or the member would stay behind.
struct DeleteNodesPhase: RemovalPhase {
    let id = "delete-node"
    let title = "Delete the Node objects (a server's etcd member with it), one server at a time"

    func note(_ context: RunContext) -> String? { "servers one at a time" }

    func describe(_ context: RunContext) async throws {
        for target in context.healthyRemovals {
            await context.step(id, target.node(in: context.inventory)) {
                guard let kube = context.kube, try await KubeNodes.get(kube, target.name) != nil else { return .unchanged }
                return .changed(target.isServer ? "would delete the Node and wait for its etcd member to go" : "would delete the Node")
            }
        }
    }

    func run(_ context: RunContext) async throws {
        let (kube, _) = try context.clusterClient()
        let state = context.options.stateDirectory
        for target in context.healthyRemovals {
            let node = target.node(in: context.inventory)
            let result = await context.step(id, node) {
                // Written before the Node goes: a re-run finds the node through this record.
                try PendingRemovals.record(target, in: state)
                guard let live = try await KubeNodes.get(kube, target.name) else { return .unchanged }
                if !live.deleting {
                    let response = try await kube.send("DELETE", "/api/v1/nodes/\(target.name)")
                    guard (200..<300).contains(response.status) || response.status == 404 else {
                        throw KubeError.status(response, doing: "deleting Node \(target.name)")
                    }
                }
                let what = target.isServer ? "Node \(target.name) to be gone (RKE2 removes its etcd member first)" : "Node \(target.name) to be gone"
                try await Waiter.until(what, timeout: context.options.waitTimeout) {
                    guard let still = try await KubeNodes.get(kube, target.name) else { return (true, "") }
                    return (false, still.finalizers.isEmpty ? "deleting" : "held by finalizers \(still.finalizers.joined(separator: ", "))")
                }
                return .changed(target.isServer ? "deleted; etcd member removed" : "deleted")
            }
            // The next server waits for this one: etcd changes one member at a time.
            if !result.succeeded && target.isServer {
                throw RunAbort("server \(target.name) could not be taken out of the cluster; no other server was touched")
            }
        }
    }
}

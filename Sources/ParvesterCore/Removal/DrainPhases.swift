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
                try await NodeDrainer.setUnschedulable(node.name, true, kube: kube)
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

    func describe(_ context: RunContext) async throws {
        await context.forEach(context.removalNodes()) { node in
            await context.step(id, node) {
                guard let kube = context.kube else { return .unchanged }
                return try await NodeDrainer.wouldDrain(node.name, kube: kube)
            }
        }
    }

    func run(_ context: RunContext) async throws {
        let (kube, _) = try context.clusterClient()
        await context.forEach(context.removalNodes()) { node in
            await context.step(id, node) { try await NodeDrainer.drain(context, node, kube: kube) }
        }
    }
}

import Foundation
import Kube

/// The inventory's VMs as KubeVirt VirtualMachines (rendered from templates/), applied after the
/// images and networks they use; then every VM meant to run is waited for until its
/// VirtualMachineInstance is Running.
struct VirtualMachinesPhase: RenderedObjectsPhase {
    let id = "vms"
    let title = "Virtual machines"
    func targets(_ context: RunContext) -> [String] { context.inventory.vms.map { "\($0.namespace)/\($0.name)" } }
    func note(_ context: RunContext) -> String? { "wait until running ones are Running" }

    func objects(_ context: RunContext) throws -> [KubeObject] {
        let renderer = ClusterObjectRenderer(inventory: context.inventory)
        var objects: [KubeObject] = []
        for vm in context.inventory.vms {
            for node in try renderer.objects(for: vm) { objects += try KubeObject.from(node, source: "vm \(vm.namespace)/\(vm.name)").map(context.owned) }
        }
        return objects
    }

    func run(_ context: RunContext) async throws {
        let vms = context.inventory.vms
        try await context.clusterStep(id) {
            let (kube, _) = try context.clusterClient()
            let changed = try await context.applyRendered(try objects(context))
            let machines = VirtualMachineClient(client: kube)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for vm in vms where vm.runsAtStart {
                    group.addTask { try await machines.waitRunning(namespace: vm.namespace, name: vm.name, timeout: context.options.waitTimeout) }
                }
                try await group.waitForAll()
            }
            return changed.isEmpty ? .unchanged : .changed(changed.joined(separator: ", "))
        }
    }
}

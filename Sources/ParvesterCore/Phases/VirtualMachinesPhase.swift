import Foundation
import Kube

/// The inventory's VMs as KubeVirt VirtualMachines (rendered from templates/), applied after the
/// images and networks they use; then every VM meant to run is waited for until its
/// VirtualMachineInstance is Running.
struct VirtualMachinesPhase: Phase {
    let id = "vms"
    let title = "Virtual machines"

    func run(_ context: RunContext) async throws {
        let vms = context.inventory.vms
        guard !vms.isEmpty else { return }
        try await context.clusterStep(id) {
            if context.options.dryRun { return .ok("would apply \(vms.count) VirtualMachines") }
            let (kube, _) = try context.clusterClient()
            let renderer = ClusterObjectRenderer(inventory: context.inventory)
            var objects: [KubeObject] = []
            for vm in vms {
                for node in try renderer.objects(for: vm) { objects += try KubeObject.from(node, source: "vm \(vm.namespace)/\(vm.name)") }
            }
            let changed = try await context.applyRendered(objects)
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

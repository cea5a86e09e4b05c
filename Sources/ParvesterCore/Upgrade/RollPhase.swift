import Foundation
import Kube

/// Brings the nodes already in the cluster to the inventory's RKE2 version and configuration without
/// taking the cluster down: servers one at a time, then agents `upgrade.maxUnavailable` at a time. Each
/// node is cordoned, drained when `upgrade.drain` says so, gets the new version, restarts, and is
/// uncordoned once its Node is Ready on the new version. The first node that fails stops the roll;
/// a re-run skips the nodes already done.
struct RollPhase: Phase {
    let id = "roll"
    let title = "Roll nodes onto the new version or configuration"

    func targets(_ context: RunContext) -> [String] { context.inventory.nodes.map(\.name) }

    func note(_ context: RunContext) -> String? {
        let settings = context.inventory.upgrade
        let batch = settings.maxUnavailable.batchSize(of: context.inventory.agents.count)
        return "servers one at a time, then agents \(batch) at a time\(settings.drain ? ", drained" : ", cordoned")"
    }

    /// Why a node in the cluster rolls, or nil when it does not.
    static func reason(_ context: RunContext, _ node: Node) -> String? {
        let state = context.state(of: node)
        guard state.inCluster, state.failure == nil else { return nil }
        let target = context.inventory.cluster.version
        if state.runningVersion != target || state.facts?.rke2Version != target {
            return "\(state.runningVersion ?? state.facts?.rke2Version ?? "unknown") → \(target)"
        }
        if context.needsRestart(node) { return "restart (configuration changed)" }
        return state.cordonedByRoll ? "finish (uncordon after an interrupted roll)" : nil
    }

    /// The nodes that roll, in order: the initial server, the other servers, then the agents.
    static func order(_ context: RunContext) -> (servers: [Node], agents: [Node]) {
        let inventory = context.inventory
        let servers = ([inventory.initialServer] + inventory.joiningServers).filter { reason(context, $0) != nil }
        return (servers, inventory.agents.filter { reason(context, $0) != nil })
    }

    /// Decided when the phase comes: check-upgrade and push-config have said which nodes roll.
    func shouldRun(_ context: RunContext) -> Bool {
        let (servers, agents) = Self.order(context)
        return !servers.isEmpty || !agents.isEmpty
    }

    func describe(_ context: RunContext) async throws {
        let (servers, agents) = Self.order(context)
        let settings = context.inventory.upgrade
        let steps = ["cordon"] + (settings.drain ? ["drain"] : []) + ["install", "restart", "wait Ready", "uncordon"]
        for node in servers + agents {
            let why = Self.reason(context, node) ?? ""
            let shown = why.hasPrefix("finish") ? ["wait Ready", "uncordon"] : why.hasPrefix("restart") ? steps.filter { $0 != "install" } : steps
            await context.step(id, node) { .changed("would roll \(why): \(shown.joined(separator: ", "))") }
        }
    }

    func run(_ context: RunContext) async throws {
        let (servers, agents) = Self.order(context)
        guard !servers.isEmpty || !agents.isEmpty else { return }
        let (kube, _) = try context.clusterClient()
        let settings = context.inventory.upgrade
        if settings.drain, settings.vms == .refuse {
            try await refuseMachines(on: servers + agents, kube: kube)
        }
        for node in servers {
            try await roll([node], context: context, kube: kube)
        }
        let batch = settings.maxUnavailable.batchSize(of: context.inventory.agents.count)
        for start in stride(from: 0, to: agents.count, by: batch) {
            try await roll(Array(agents[start..<min(start + batch, agents.count)]), context: context, kube: kube)
        }
    }

    private func roll(_ nodes: [Node], context: RunContext, kube: KubeHTTPClient) async throws {
        await context.forEach(nodes, width: nodes.count) { node in
            await context.step(id, node) { try await NodeRoll(context: context, node: node, kube: kube).run() }
        }
        if let failed = nodes.first(where: { context.hasFailed($0) }) {
            throw RunAbort("the roll stopped at \(failed.name) (\(context.state(of: failed).failure ?? "failed")); no other node was restarted. "
                           + "Fix it and run again: nodes already on \(context.inventory.cluster.version) are skipped")
        }
    }

    /// Local-path disks cannot live-migrate: VMs on the nodes to drain are refused before any is touched.
    private func refuseMachines(on nodes: [Node], kube: KubeHTTPClient) async throws {
        let found = try await RemovalChecks.machines(on: Set(nodes.map(\.name)), kube: kube)
        guard !found.isEmpty else { return }
        let list = found.map { "\($0.namespace)/\($0.name) (on \($0.node))" }.joined(separator: ", ")
        throw RunAbort("VMs run on nodes the roll would drain: \(list). Their disks are local-path volumes, which cannot live-migrate. "
                       + "Set upgrade.vms: stop to stop them during their node's restart (they start again after), or upgrade without "
                       + "upgrade.drain; nothing was changed")
    }
}

/// One node's roll, step by step; an error names the step it happened in.
struct NodeRoll {
    let context: RunContext
    let node: Node
    let kube: KubeHTTPClient

    struct StepFailed: Error, CustomStringConvertible {
        let step: String
        let error: any Error
        var description: String { "at \(step): \(RunContext.describe(error))" }
    }

    private func step<T>(_ name: String, _ work: () async throws -> T) async throws -> T {
        do { return try await work() } catch { throw StepFailed(step: name, error: error) }
    }

    func run() async throws -> RunContext.Done {
        let target = context.inventory.cluster.version
        let unit = node.role == .server ? "rke2-server" : "rke2-agent"
        var done: [String] = []
        // Unanswered when the API is down with this very server (a roll interrupted during its restart):
        // then it cannot be cordoned, and nothing is scheduled anyway.
        let live = try? await KubeNodes.get(kube, node.name)
        // A node a person cordoned stays cordoned; one this roll cordoned (perhaps in a killed run) is uncordoned.
        let cordonedByOthers = live.map { $0.unschedulable && $0.annotations[NodeDrainer.cordonMark] == nil } ?? false
        let state = context.state(of: node)
        let restarts = state.runningVersion != target || context.facts(node)?.rke2Version != target || context.needsRestart(node)
        if restarts {
            try await restart(live: live, unit: unit, done: &done)
        }
        try await step("wait Ready on \(target)") { try await waitReady(version: target) }
        done.append("Ready on \(target)")
        context.update(node) { $0.configChanged = false; $0.runningVersion = target; $0.facts?.rke2Version = target }
        if !cordonedByOthers {
            let marks = try await step("read its Node") { try await KubeNodes.get(kube, node.name) }
            try await step("uncordon") { try await NodeDrainer.setUnschedulable(node.name, false, kube: kube) }
            done.append("uncordoned")
            // The VMs' disks are on this node: they start once it is schedulable again. Their mark goes
            // last, so that a run killed before they all run starts the rest.
            if let mark = marks?.annotations[NodeDrainer.stoppedMachinesMark] {
                let machines = mark.split(separator: ",").map(String.init)
                try await step("start VMs") { try await startMachines(machines) }
                try await step("clear the stopped VMs' mark") {
                    try await NodeDrainer.patchNode(node.name, ["metadata": ["annotations": [NodeDrainer.stoppedMachinesMark: NSNull()]]],
                                                    kube: kube, doing: "clearing the mark of the VMs stopped on \(node.name)")
                }
                if !machines.isEmpty { done.append("started \(machines.joined(separator: ", "))") }
            }
        } else {
            done.append("left cordoned (it was before the roll)")
        }
        return .changed(done.joined(separator: ", "))
    }

    /// Cordon, drain, the new version, the restart: what takes the node out of service.
    private func restart(live: KubeNodeInfo?, unit: String, done: inout [String]) async throws {
        let target = context.inventory.cluster.version
        let settings = context.inventory.upgrade
        if let live, !live.unschedulable {
            try await step("cordon") { try await NodeDrainer.setUnschedulable(node.name, true, kube: kube, reason: "upgrade") }
            done.append("cordoned")
        }
        if settings.drain {
            let stopped = try await step("stop VMs") { try await stopMachines(already: live?.annotations[NodeDrainer.stoppedMachinesMark]) }
            if !stopped.isEmpty { done.append("stopped \(stopped.joined(separator: ", "))") }
            if case .changed(let detail) = try await step("drain", { try await NodeDrainer.drain(context, node, kube: kube) }), let detail {
                done.append(detail)
            }
        }
        if context.facts(node)?.rke2Version != target {
            try await step("install \(target)") { try await InstallPhase.install(context, node) }
            done.append("installed \(target)")
        }
        try await step("restart \(unit)") {
            try await context.run(node, "systemctl stop \(unit) && systemctl start --no-block \(unit)")
            try await ServiceStarter.waitActive(context, node, unit: unit)
        }
        done.append("restarted")
        if node.name == context.inventory.initialServer.name {
            // RKE2 rewrites rke2.yaml when it starts (renewing certificates near their expiry): read it again.
            try await step("read the kubeconfig") { try context.setKubeconfig(try await KubeconfigSource.fetch(context, from: node)) }
        }
        if RestartMarker.isPresent(context.facts(node)) || context.configChanged(node) {
            try await step("clear the restart marker") { try await RestartMarker.clear(context, node) }
        }
    }

    /// Stops the VMs on the node and records them on the Node first, so that a killed run still starts them.
    private func stopMachines(already: String?) async throws -> [String] {
        guard context.inventory.upgrade.vms == .stop else { return [] }
        let found = try await RemovalChecks.machines(on: [node.name], kube: kube).map { "\($0.namespace)/\($0.name)" }
        guard !found.isEmpty else { return [] }
        let all = Array(Set(found + (already ?? "").split(separator: ",").map(String.init))).sorted()
        try await NodeDrainer.patchNode(node.name, ["metadata": ["annotations": [NodeDrainer.stoppedMachinesMark: all.joined(separator: ",")]]],
                                        kube: kube, doing: "recording the VMs stopped on \(node.name)")
        let machines = VirtualMachineClient(client: kube)
        for vm in found {
            let parts = vm.split(separator: "/").map(String.init)
            context.report.command(target: node.name, "stop VM \(vm)")
            try await machines.perform(.stop, namespace: parts[0], name: parts[1], timeout: context.options.waitTimeout)
        }
        return found
    }

    private func startMachines(_ names: [String]) async throws {
        let machines = VirtualMachineClient(client: kube)
        for vm in names {
            let parts = vm.split(separator: "/").map(String.init)
            guard parts.count == 2 else { continue }
            // KubeVirt answers a start of a running VM with 409: one started by a killed run is left be.
            if try await machines.instance(namespace: parts[0], name: parts[1])?.phase == "Running" { continue }
            context.report.command(target: node.name, "start VM \(vm)")
            try await machines.perform(.start, namespace: parts[0], name: parts[1], timeout: context.options.waitTimeout)
        }
    }

    /// Ready, and reporting the new version: the kubelet that answers is the new one.
    private func waitReady(version: String) async throws {
        try await Waiter.until("\(node.name) Ready on \(version)", timeout: context.options.waitTimeout) {
            guard let live = try await KubeNodes.get(kube, node.name) else { return (false, "its Node is not registered") }
            if live.kubeletVersion != version { return (false, "it reports \(live.kubeletVersion)") }
            return (live.ready == "True", "Ready is \(live.ready)")
        }
    }
}

/// The ordered phases `up` runs and what each touches. For now the plan comes from the inventory alone;
/// once facts are gathered from the nodes, phases with nothing to do drop out.
public enum Planner {
    /// Agents join in parallel, but at most this many at once (a burst of joins strains the servers).
    public static let agentBatchSize = 50

    public static func plan(_ inventory: Inventory) -> [PlanStep] {
        let all = inventory.nodes.map(\.name)
        let concurrencyNote = "up to \(inventory.concurrency) nodes at once"
        var steps = [
            PlanStep(phase: "connect", title: "Connect over SSH", targets: all, note: concurrencyNote),
            PlanStep(phase: "lock", title: "Take the run lock", targets: all),
            PlanStep(phase: "gather-facts", title: "Gather facts", targets: all),
            PlanStep(phase: "validate-hosts", title: "Validate hosts (virt-host-validate, uplink)", targets: all),
            PlanStep(phase: "push-config", title: "Push RKE2 config", targets: all),
            PlanStep(phase: "install-rke2", title: "Install RKE2 \(inventory.cluster.version) (\(inventory.cluster.install.summary))", targets: all),
            PlanStep(phase: "start-initial-server", title: "Start the initial server and wait for its token and API",
                     targets: [inventory.initialServer.name]),
        ]
        if !inventory.joiningServers.isEmpty {
            steps.append(PlanStep(phase: "join-servers", title: "Join servers", targets: inventory.joiningServers.map(\.name),
                                  note: "one at a time, each Ready before the next"))
        }
        if !inventory.agents.isEmpty {
            steps.append(PlanStep(phase: "join-agents", title: "Join agents", targets: inventory.agents.map(\.name),
                                  note: "in parallel, batches of at most \(agentBatchSize)"))
        }
        steps += [
            PlanStep(phase: "bridges", title: "Create bridge \(inventory.bridge.name) with its uplink, persisted across reboots", targets: all),
            PlanStep(phase: "fetch-kubeconfig", title: "Fetch the kubeconfig (server https://\(inventory.cluster.address):6443)",
                     targets: [inventory.initialServer.name]),
            PlanStep(phase: "wait-nodes-ready", title: "Wait for nodes Ready", targets: all),
        ]
        for component in inventory.enabledComponents {
            steps.append(PlanStep(phase: "component-\(component.kind.rawValue)", title: "Apply \(component.kind.title) \(component.version)",
                                  targets: [component.kind.rawValue], note: "wait until ready"))
        }
        if !inventory.networks.isEmpty {
            steps.append(PlanStep(phase: "networks", title: "Apply VM networks (NetworkAttachmentDefinitions)",
                                  targets: inventory.networks.map { "\($0.namespace)/\($0.name)" }))
        }
        if !inventory.images.isEmpty {
            steps.append(PlanStep(phase: "images", title: "Create images (DataVolumes)",
                                  targets: inventory.images.map { "\($0.namespace)/\($0.name)" }, note: "wait until Succeeded"))
        }
        if !inventory.vms.isEmpty {
            steps.append(PlanStep(phase: "vms", title: "Apply VMs (VirtualMachines)",
                                  targets: inventory.vms.map { "\($0.namespace)/\($0.name)" }, note: "wait until running ones are Running"))
        }
        steps.append(PlanStep(phase: "unlock", title: "Release the run lock", targets: all))
        return steps
    }
}

extension Install {
    public var summary: String {
        switch self {
        case .online(let url): return "online from \(url)"
        case .airgap(let directory): return "airgap from \(directory)"
        }
    }
}

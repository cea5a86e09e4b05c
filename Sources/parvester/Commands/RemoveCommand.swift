import ArgumentParser
import ParvesterCore

/// How `remove` and `up --prune` treat what stands in their way.
struct RemovalOptions: ParsableArguments {
    @Option(name: .long, help: "VMs running on a node to remove: refuse (default) or stop them (they are stopped, not moved).")
    var vms: VMPolicyArgument = .refuse

    @Flag(name: .long, help: "Remove a node that does not answer over SSH from the cluster anyway; it is reported as left dirty.")
    var unreachable = false

    @Flag(name: .long, help: "Also delete the bridge and the local-path data (/opt/local-path-provisioner) on the removed nodes.")
    var wipe = false

    var settings: RemovalSettings { RemovalSettings(vms: vms == .stop ? .stop : .refuse, unreachable: unreachable, wipe: wipe) }
}

enum VMPolicyArgument: String, ExpressibleByArgument, CaseIterable {
    case refuse, stop
}

struct RemoveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Take nodes out of the cluster safely: cordon, drain, delete the Node, uninstall RKE2 on it.",
        discussion: """
            Refuses, before touching anything, to remove the initial server, or servers when those left would be \
            fewer than a majority of the etcd members (servers go one at a time), or nodes with running VMs \
            unless --vms stop. Drains with the Eviction API, honouring PodDisruptionBudgets. Deleting a server's \
            Node removes its etcd member (RKE2's finalizer); then rke2-killall.sh and rke2-uninstall.sh run on \
            the node and the bridge unit goes. A run that stopped half way is finished by running it again. \
            Asks for confirmation on a terminal; without one, needs --yes. See docs/commands.md.
            """)

    @Argument(help: "The nodes to remove (Node names).")
    var nodes: [String]

    @OptionGroup var inventoryOptions: InventoryOptions
    @OptionGroup var outputOptions: OutputOptions
    @OptionGroup var runOptions: RunCommandOptions
    @OptionGroup var removal: RemovalOptions

    @Flag(name: .long, help: "Do not ask for confirmation.")
    var yes = false

    func run() async throws {
        let terminal = Terminal()
        let inventory = try inventoryOptions.load(terminal: terminal, format: outputOptions.output)
        try Confirmation.require("Remove \(nodes.joined(separator: ", ")) from cluster \(inventory.cluster.name)?", yes: yes, terminal: terminal)
        let action = RemoveAction.make(inventory, names: nodes, settings: removal.settings)
        let result = try await runOptions.run(action, inventory, dryRun: false, output: outputOptions.output, terminal: terminal, extraNames: nodes)
        try RunSummary.finish(result, format: outputOptions.output, terminal: terminal, done: "removal finished", again: "remove")
    }
}

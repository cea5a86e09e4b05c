import ArgumentParser
import ParvesterCore

struct ResetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reset",
        abstract: "Take the whole cluster away: RKE2 uninstalled and the bridge removed on every node.",
        discussion: """
            Agents first, then the servers one at a time, the initial server last: rke2-killall.sh and \
            rke2-uninstall.sh on each, then the bridge unit and the bridge; nodes the API labels as this \
            cluster's but the inventory no longer names go too. Then every node is checked over SSH for \
            anything of RKE2 or Parvester left, and what is left is named. The local-path data (VM disks) \
            stays unless --wipe. The cluster's local state (kubeconfig, last report) is removed; its token is \
            kept in a file named in the report. Asks for confirmation on a terminal; without one, needs --yes. \
            A reset that stopped half way is finished by running it again.
            """)

    @OptionGroup var inventoryOptions: InventoryOptions
    @OptionGroup var outputOptions: OutputOptions
    @OptionGroup var runOptions: RunCommandOptions

    @Flag(name: .long, help: "Also delete the local-path data (/opt/local-path-provisioner: the VMs' disks) on every node.")
    var wipe = false

    @Flag(name: .long, help: "Go on without the nodes that do not answer over SSH; they are reported as left dirty.")
    var unreachable = false

    @Flag(name: .long, help: "Do not ask for confirmation.")
    var yes = false

    func run() async throws {
        let terminal = Terminal()
        let inventory = try inventoryOptions.load(terminal: terminal, format: outputOptions.output)
        let names = inventory.nodes.map(\.name).joined(separator: ", ")
        try Confirmation.require("Reset cluster \(inventory.cluster.name): uninstall RKE2 and remove the bridge on \(names)\(wipe ? ", deleting the VMs' disks" : "")?",
                                 yes: yes, terminal: terminal)
        let action = ResetAction.make(inventory, settings: RemovalSettings(unreachable: unreachable, wipe: wipe))
        let result = try await runOptions.run(action, inventory, dryRun: false, output: outputOptions.output, terminal: terminal)
        try RunSummary.finish(result, format: outputOptions.output, terminal: terminal, done: "reset", again: "reset")
    }
}

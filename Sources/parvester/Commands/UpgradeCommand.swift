import ArgumentParser
import ParvesterCore

struct UpgradeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upgrade",
        abstract: "Roll the cluster onto the inventory's RKE2 version and configuration, one node at a time.",
        discussion: """
            Reads the version each node runs (its Node's kubeletVersion and the installed binary) and refuses \
            a downgrade or a skipped minor version (v1.28 → v1.29 → v1.30), and airgap artifacts of another \
            version, before touching anything. Then takes an etcd snapshot on the initial server and downloads \
            it to the state directory (with the token and the servers' configuration), and rolls: servers one \
            at a time, then agents upgrade.maxUnavailable at a time; each node is cordoned, drained when \
            upgrade.drain is true, upgraded, restarted, waited for (Ready on the new version) and uncordoned. \
            The first node that fails stops the roll; running again skips the nodes already done. The \
            components' new releases are applied after. `up` does all of this too when versions differ; \
            `plan` shows the roll node by node. See docs/upgrades.md.
            """)

    @OptionGroup var inventoryOptions: InventoryOptions
    @OptionGroup var outputOptions: OutputOptions
    @OptionGroup var runOptions: RunCommandOptions

    func run() async throws {
        let terminal = Terminal()
        let inventory = try inventoryOptions.load(terminal: terminal, format: outputOptions.output)
        let result = try await runOptions.run(UpgradeAction.make(inventory), inventory, dryRun: false, output: outputOptions.output, terminal: terminal)
        try RunSummary.finish(result, format: outputOptions.output, terminal: terminal, done: "upgraded", again: "upgrade")
    }
}

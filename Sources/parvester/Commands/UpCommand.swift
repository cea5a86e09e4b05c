import ArgumentParser
import Foundation
import ParvesterCore
import SSH

struct UpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Build or update the cluster: RKE2, bridges, the kubeconfig, the components, VM networks, images and VMs.",
        discussion: """
            Runs the phases in docs/phases.md against every node of the inventory: RKE2 servers (one at a time) \
            and agents, the VM bridge on every node, the kubeconfig, then through the Kubernetes API the \
            components (KubeVirt, CDI, Local Path Provisioner, Multus) and the inventory's VM networks, \
            images and VMs. Safe to run again: what is \
            already in place is left alone, so a re-run after a failure goes on where it stopped, and a node \
            added to the inventory is the only one touched. Exits 0 only when everything converged.

            The kubeconfig is written to the state directory (--state-dir, else $PARVESTER_STATE_DIR/CLUSTER, \
            $XDG_STATE_HOME/parvester/CLUSTER or ~/.local/state/parvester/CLUSTER).
            """)

    @OptionGroup var inventoryOptions: InventoryOptions
    @OptionGroup var outputOptions: OutputOptions
    @OptionGroup var runOptions: RunCommandOptions
    @OptionGroup var removal: RemovalOptions

    @Flag(name: .long, help: "Also remove the nodes of this cluster that the inventory no longer names (see `parvester remove`).")
    var prune = false

    @Flag(name: .long, help: "With --prune: do not ask for confirmation.")
    var yes = false

    func run() async throws {
        let terminal = Terminal()
        let inventory = try inventoryOptions.load(terminal: terminal, format: outputOptions.output)
        if prune {
            try Confirmation.require("`up --prune` removes the nodes of cluster \(inventory.cluster.name) that the inventory no longer names (`parvester plan --prune` lists them). Go ahead?",
                                     yes: yes, terminal: terminal)
        }
        let action = UpAction.make(inventory, prune: prune, removal: removal.settings)
        let result = try await runOptions.run(action, inventory, dryRun: false, output: outputOptions.output, terminal: terminal)
        switch outputOptions.output {
        case .json:
            terminal.print(try JSONOutput.encode(result))
        case .text:
            RunSummary.print(result, terminal: terminal)
        }
        if !result.ok { throw ExitCodes.failure }
    }
}

/// Options shared by `up` and `plan`.
struct RunCommandOptions: ParsableArguments {
    @Option(name: .long, help: "Where the token (if generated), kubeconfig and last report are kept.")
    var stateDir: String?

    @Option(name: .long, help: "How long to wait for a service to start or nodes to become Ready (1s to 24h, e.g. 90s, 15m).",
            transform: DurationFlag.positive)
    var waitTimeout: DurationValue = .seconds(900)

    @Option(name: .long, help: "How long one remote command may take, install scripts and uploads excepted (1s to 24h).",
            transform: DurationFlag.positive)
    var commandTimeout: DurationValue = .seconds(120)

    @Flag(name: [.short, .long], help: "Print the commands run on nodes (secrets never appear).")
    var verbose = false

    @Flag(name: .long, help: "Record host keys of nodes not yet in known_hosts (a changed key is still refused).")
    var acceptNewHostKeys = false

    @Flag(name: .long, help: "Use only the manifest cache (see `parvester fetch`); download nothing.")
    var offline = false

    /// Runs an action (or plans it: a dry run), printing each step as it happens in text mode.
    func run(_ action: Action, _ inventory: Inventory, dryRun: Bool, output: OutputFormat, terminal: Terminal,
             extraNames: [String] = []) async throws -> RunResult {
        let options = try runOptions(for: inventory, dryRun: dryRun)
        let printer = output == .text ? RunPrinter(terminal: terminal, verbose: verbose, names: inventory.nodes.map(\.name) + extraNames,
                                                   planning: dryRun) : nil
        return await ActionRunner.run(action, context: RunContext(inventory: inventory, options: options, observer: printer))
    }

    func runOptions(for inventory: Inventory, dryRun: Bool) throws -> RunOptions {
        let state = stateDir.map { StateDirectory(path: $0) } ?? StateDirectory.default(cluster: inventory.cluster.name)
        return RunOptions(waitTimeout: waitTimeout.seconds, stateDirectory: state, hostKeyPolicy: acceptNewHostKeys ? .acceptNew : .strict,
                          dryRun: dryRun, commandTimeout: commandTimeout.seconds, offline: offline)
    }
}

enum RunSummary {
    static func print(_ result: RunResult, terminal: Terminal, done: String = "converged", again: String = "up") {
        let time = String(format: "%.1fs", result.seconds)
        printNotices(result, terminal: terminal)
        if result.ok {
            terminal.print(terminal.green("✓ cluster \(result.cluster) \(done)") + " in \(time): \(result.changed) changed")
            if let kubeconfig = result.kubeconfig, result.action == "up" { terminal.print("  kubeconfig: \(kubeconfig)") }
            return
        }
        terminal.print(terminal.red(result.plan ? "✗ the plan for cluster \(result.cluster) could not be computed" : "✗ cluster \(result.cluster): \(result.action) did not finish")
                       + " (\(time))")
        if let aborted = result.aborted { terminal.print("  stopped: \(aborted)") }
        for (node, why) in result.failedNodes.sorted(by: { $0.key < $1.key }) {
            terminal.print("  \(node): \(why.split(separator: "\n").first ?? "")")
        }
        terminal.print(result.plan ? "  Fix the cause and run `parvester plan` again; nothing was changed."
                                   : "  Fix the cause and run `parvester \(again)` again: finished work is not redone.")
    }

    /// The end of a command that runs an action: the result as JSON or as the summary, and exit 1 when
    /// it did not finish.
    static func finish(_ result: RunResult, format: OutputFormat, terminal: Terminal, done: String, again: String) throws {
        switch format {
        case .json: terminal.print(try JSONOutput.encode(result))
        case .text: print(result, terminal: terminal, done: done, again: again)
        }
        if !result.ok { throw ExitCodes.failure }
    }

    static func printNotices(_ result: RunResult, terminal: Terminal) {
        for notice in result.notices { terminal.print(terminal.yellow("! ") + notice) }
    }
}

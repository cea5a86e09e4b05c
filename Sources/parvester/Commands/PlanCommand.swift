import ArgumentParser
import ParvesterCore

struct PlanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Show what `up` would change, per node and phase, without changing anything.",
        discussion: """
            Connects to every node and gathers facts, then goes through the phases of `up` in dry-run mode: \
            files that would be written are shown as diffs (the token masked), services that would start or \
            restart, installs, bridges. Nothing is written, started or locked. With --from-inventory, only lists the \
            phases from the inventory, contacting no node. Exits 1 when a node cannot be reached or checked.
            """)

    @OptionGroup var inventoryOptions: InventoryOptions
    @OptionGroup var outputOptions: OutputOptions
    @OptionGroup var runOptions: RunCommandOptions

    @Flag(name: .long, help: "Do not contact the nodes: list the phases and their targets from the inventory alone.")
    var fromInventory = false

    func run() async throws {
        let terminal = Terminal()
        let inventory = try inventoryOptions.load(terminal: terminal, format: outputOptions.output)
        if fromInventory { return try printOffline(inventory, terminal: terminal) }
        let result = try await runOptions.run(inventory, dryRun: true, output: outputOptions.output, terminal: terminal)
        switch outputOptions.output {
        case .json:
            terminal.print(try JSONOutput.encode(result))
        case .text:
            let changes = result.steps.filter { $0.outcome == .changed }
            let nodes = Set(changes.map(\.target)).count
            if result.ok {
                terminal.print(changes.isEmpty ? terminal.green("✓ nothing to change") + ": the cluster is as the inventory describes"
                                               : "\(changes.count) changes on \(nodes) \(nodes == 1 ? "target" : "targets") would be made; nothing was changed")
            } else {
                RunSummary.print(result, terminal: terminal)
            }
        }
        if !result.ok { throw ExitCodes.failure }
    }

    private func printOffline(_ inventory: Inventory, terminal: Terminal) throws {
        let steps = Planner.plan(inventory)
        switch outputOptions.output {
        case .json:
            terminal.print(try JSONOutput.encode(PlanReport(file: inventory.file, cluster: inventory.cluster.name, steps: steps)))
        case .text:
            terminal.print(terminal.bold("Plan for cluster \(inventory.cluster.name)") + " (\(inventory.servers.count) servers, "
                           + "\(inventory.agents.count) agents; from the inventory alone, no node contacted)")
            let width = String(steps.count).count
            for (index, step) in steps.enumerated() {
                let number = String(index + 1).leftPadded(to: width)
                let note = step.note.map { terminal.dim(" (\($0))") } ?? ""
                terminal.print("\(number). \(step.title)\(note)")
                terminal.print(String(repeating: " ", count: width + 2) + "→ " + step.targets.joined(separator: ", "))
            }
        }
    }
}

struct PlanReport: Encodable {
    var file: String
    var cluster: String
    var steps: [PlanStep]
}

extension String {
    func leftPadded(to width: Int) -> String {
        String(repeating: " ", count: max(0, width - count)) + self
    }
}

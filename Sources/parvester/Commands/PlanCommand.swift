import ArgumentParser
import ParvesterCore

struct PlanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Show what `up` would change, per node, phase and object, without changing anything.",
        discussion: """
            Connects to every node and gathers facts, then goes through the phases of `up` as a dry run: \
            files that would be written as diffs (the token masked), services that would start or restart, \
            installs, bridges; cluster objects (components, networks, images, VMs) by a server-side dry run \
            compared with the live objects, field by field. Nodes and objects of this cluster that the \
            inventory no longer names are listed. Nothing is written, started or locked. With --from-inventory, \
            only lists the phases from the inventory, contacting no node.

            Exits 0 when the plan could be computed, 1 when it could not (a node unreachable or a check failed), \
            2 for an invalid inventory. With --detailed-exitcode: 0 nothing to change, 3 changes pending.
            """)

    @OptionGroup var inventoryOptions: InventoryOptions
    @OptionGroup var outputOptions: OutputOptions
    @OptionGroup var runOptions: RunCommandOptions

    @Flag(name: .long, help: "Do not contact the nodes: list the phases and their targets from the inventory alone.")
    var fromInventory = false

    @Flag(name: .long, help: "Exit 0 when nothing would change, 3 when something would, 1 on failure, 2 for an invalid inventory.")
    var detailedExitcode = false

    @Flag(name: .long, help: "Plan `up --prune`: also the removal of nodes the inventory no longer names.")
    var prune = false

    func run() async throws {
        let terminal = Terminal()
        let inventory = try inventoryOptions.load(terminal: terminal, format: outputOptions.output)
        let action = UpAction.make(inventory, prune: prune)
        if fromInventory { return try printOffline(action, inventory, terminal: terminal) }
        let result = try await runOptions.run(action, inventory, dryRun: true, output: outputOptions.output, terminal: terminal)
        let pending = result.steps.filter { $0.outcome == .changed }
        switch outputOptions.output {
        case .json:
            terminal.print(try JSONOutput.encode(result))
        case .text where !result.ok:
            RunSummary.print(result, terminal: terminal)
        case .text:
            RunSummary.printNotices(result, terminal: terminal)
            if pending.isEmpty && result.notices.isEmpty {
                terminal.print(terminal.green("✓ nothing to change") + ": the cluster is as the inventory describes")
            } else {
                let targets = Set(pending.map(\.target)).count
                terminal.print("Plan: \(pending.count) \(pending.count == 1 ? "change" : "changes") on \(targets) \(targets == 1 ? "target" : "targets")"
                               + (result.notices.isEmpty ? "" : ", \(result.notices.count) \(result.notices.count == 1 ? "remark" : "remarks")")
                               + ". Nothing was changed; `parvester up` makes these changes.")
            }
        }
        if !result.ok { throw ExitCodes.failure }
        if detailedExitcode && !pending.isEmpty { throw ExitCodes.changesPending }
    }

    private func printOffline(_ action: Action, _ inventory: Inventory, terminal: Terminal) throws {
        let context = RunContext(inventory: inventory, options: try runOptions.runOptions(for: inventory, dryRun: true), observer: nil)
        let steps = ActionRunner.outline(action, context: context)
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

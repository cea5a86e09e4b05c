import ArgumentParser
import ParvesterCore

struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Show the ordered phases `up` would run and the nodes each would touch.",
        discussion: "For now the plan comes from the inventory alone; no node is contacted.")

    @OptionGroup var inventoryOptions: InventoryOptions
    @OptionGroup var outputOptions: OutputOptions

    func run() throws {
        let terminal = Terminal()
        let inventory = try inventoryOptions.load(terminal: terminal, format: outputOptions.output)
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

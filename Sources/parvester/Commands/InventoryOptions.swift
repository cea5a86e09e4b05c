import ArgumentParser
import ParvesterCore

struct InventoryOptions: ParsableArguments {
    @Option(name: [.customShort("i"), .customLong("inventory")], help: "The inventory file (YAML).",
            completion: .file(extensions: ["yaml", "yml"]))
    var inventory: String

    /// Loads and validates the inventory; on problems prints them all and exits with code 2.
    func load(terminal: Terminal, format: OutputFormat) throws -> Inventory {
        do {
            let loaded = try InventoryLoader.load(path: inventory)
            for warning in loaded.warnings { terminal.warning(warning.description) }
            return loaded
        } catch let error as InventoryError {
            switch format {
            case .text:
                for problem in error.problems { terminal.error(problem.description) }
                let count = error.problems.count
                terminal.error("\(count) \(count == 1 ? "problem" : "problems") in \(inventory); nothing was changed.")
            case .json:
                terminal.print(try JSONOutput.encode(ValidationReport(file: inventory, problems: error.problems)))
            }
            throw ExitCodes.invalidInventory
        }
    }
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

struct OutputOptions: ParsableArguments {
    @Option(name: .long, help: "How to print results: text for people, json for scripts.")
    var output: OutputFormat = .text
}

import ArgumentParser
import ParvesterCore

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check an inventory without touching any node.",
        discussion: "Prints every problem with file:line:column, or a short normalised summary when the inventory is valid.")

    @OptionGroup var inventoryOptions: InventoryOptions
    @OptionGroup var outputOptions: OutputOptions

    func run() throws {
        let terminal = Terminal()
        let inventory = try inventoryOptions.load(terminal: terminal, format: outputOptions.output)
        let summary = InventorySummary(inventory)
        // Read here rather than with every inventory load: the real tarball is hundreds of megabytes.
        let artifacts = AirgapArtifactsVersion.mismatch(inventory)
        switch outputOptions.output {
        case .json:
            var report = ValidationReport(file: inventory.file, summary: summary)
            report.warnings = artifacts.map { [$0] } ?? []
            terminal.print(try JSONOutput.encode(report))
        case .text:
            if let artifacts { terminal.warning(artifacts) }
            terminal.print(terminal.green("✓") + " \(inventory.file) is valid")
            for line in SummaryText.lines(summary) { terminal.print("  " + line) }
        }
    }
}

/// The `validate` text summary, one aligned line per part of the inventory.
enum SummaryText {
    static func lines(_ s: InventorySummary) -> [String] {
        var rows: [(String, String)] = [
            ("cluster", "\(s.cluster) at \(s.address), RKE2 \(s.rke2Version), \(s.install)"),
            ("tls-san", s.tlsSANs.joined(separator: ", ")),
            ("token", s.token),
        ]
        for node in s.nodes {
            var detail = "\(node.role)\(node.initializesCluster ? " (initialises the cluster)" : "")"
            detail += ", ssh \(node.ssh)"
            if let uplink = node.uplink { detail += ", uplink \(uplink)" }
            rows.append(("node", "\(node.name): \(detail)"))
        }
        rows.append(("bridge", s.bridge))
        rows.append(("components", s.components.joined(separator: ", ")))
        rows += s.networks.map { ("network", $0) } + s.images.map { ("image", $0) } + s.vms.map { ("vm", $0) }
        let width = rows.map(\.0.count).max() ?? 0
        return rows.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.1 }
    }
}

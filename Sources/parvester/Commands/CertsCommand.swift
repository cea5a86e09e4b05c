import ArgumentParser
import Foundation
import ParvesterCore

struct CertsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certs",
        abstract: "RKE2's certificates on the servers.",
        subcommands: [CertsCheckCommand.self])
}

struct CertsCheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "When each server's RKE2 certificates expire. RKE2 renews them when it starts with under 120 days left.",
        discussion: "Exits 1 when a certificate has expired; certificates with under 30 days left are marked. `status -i` warns about them too.")

    @OptionGroup var inventoryOptions: InventoryOptions
    @OptionGroup var outputOptions: OutputOptions
    @OptionGroup var runOptions: RunCommandOptions

    struct Entry: Encodable {
        var node: String
        var file: String
        var notAfter: Date
        var daysLeft: Int
    }

    func run() async throws {
        let terminal = Terminal()
        let inventory = try inventoryOptions.load(terminal: terminal, format: outputOptions.output)
        let result = try await runOptions.run(SnapshotActions.certificates(inventory), inventory, dryRun: false, output: .json, terminal: terminal)
        let entries = (result.certificates ?? []).map { Entry(node: $0.node, file: $0.file, notAfter: $0.notAfter, daysLeft: $0.daysLeft()) }
            .sorted { ($0.notAfter, $0.node, $0.file) < ($1.notAfter, $1.node, $1.file) }
        switch outputOptions.output {
        case .json:
            terminal.print(try JSONOutput.encodeList(entries))
        case .text:
            RunSummary.printNotices(result, terminal: terminal)
            let width = entries.map(\.node.count).max() ?? 4
            let formatter = ISO8601DateFormatter()
            for entry in entries {
                let days = "\(entry.daysLeft) days"
                let shown = entry.daysLeft < 0 ? terminal.red("expired") : entry.daysLeft < CertificateExpiry.warningDays ? terminal.yellow(days) : days
                terminal.print("\(entry.node.padding(toLength: width, withPad: " ", startingAt: 0))  \(formatter.string(from: entry.notAfter))  \(shown)  \(entry.file)")
            }
            if let soonest = entries.first, soonest.daysLeft < CertificateExpiry.renewalDays {
                terminal.hint("RKE2 renews certificates with under \(CertificateExpiry.renewalDays) days left when it starts: restart rke2-server on \(soonest.node) (or run `parvester upgrade`)")
            }
        }
        if !result.ok {
            if outputOptions.output == .text { RunSummary.print(result, terminal: terminal, done: "checked", again: "certs check") }
            throw ExitCodes.failure
        }
        if entries.contains(where: { $0.daysLeft < 0 }) { throw ExitCodes.failure }
    }
}

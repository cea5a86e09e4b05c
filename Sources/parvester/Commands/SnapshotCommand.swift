import ArgumentParser
import Foundation
import ParvesterCore

struct SnapshotCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Take, list and restore etcd snapshots; each is kept on its server and downloaded to the state directory.",
        subcommands: [SnapshotSaveCommand.self, SnapshotListCommand.self, SnapshotRestoreCommand.self])
}

struct SnapshotSaveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "save",
        abstract: "Take an etcd snapshot on the initial server and download it, with the token and the servers' configuration.")

    @Option(name: .long, help: "The snapshot's name; RKE2 adds the node and the time (default parvester-on-demand).")
    var name: String?

    @OptionGroup var inventoryOptions: InventoryOptions
    @OptionGroup var outputOptions: OutputOptions
    @OptionGroup var runOptions: RunCommandOptions

    func validate() throws {
        if let name, name.isEmpty || name.count > 100 || !name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) || !name.first!.isLetter {
            throw ValidationError("--name must start with a letter and hold only letters, digits, '-', '_' and '.' (at most 100)")
        }
    }

    func run() async throws {
        let terminal = Terminal()
        let inventory = try inventoryOptions.load(terminal: terminal, format: outputOptions.output)
        let result = try await runOptions.run(SnapshotActions.save(inventory, name: name), inventory, dryRun: false,
                                              output: outputOptions.output, terminal: terminal)
        try RunSummary.finish(result, format: outputOptions.output, terminal: terminal, done: "snapshot saved", again: "snapshot save")
    }
}

struct SnapshotListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "The etcd snapshots on the servers and in the state directory: size, date and sha256.")

    @OptionGroup var inventoryOptions: InventoryOptions
    @OptionGroup var outputOptions: OutputOptions
    @OptionGroup var runOptions: RunCommandOptions

    struct Entry: Encodable {
        var name: String
        var location: String
        var size: Int
        var created: Date
        var sha256: String
    }

    func run() async throws {
        let terminal = Terminal()
        let inventory = try inventoryOptions.load(terminal: terminal, format: outputOptions.output)
        let options = try runOptions.runOptions(for: inventory, dryRun: false)
        let result = try await runOptions.run(SnapshotActions.list(inventory), inventory, dryRun: false, output: .json, terminal: terminal)
        var entries = (result.snapshots ?? []).map { Entry(name: $0.name, location: "\($0.node):\($0.path)", size: $0.size, created: $0.created, sha256: $0.sha256) }
        entries += SnapshotBundle.list(options.stateDirectory).map {
            Entry(name: $0.name, location: "local:" + SnapshotBundle.dataPath(options.stateDirectory, $0.name), size: $0.size, created: $0.created, sha256: $0.sha256)
        }
        entries.sort { ($0.created, $0.location) > ($1.created, $1.location) }
        switch outputOptions.output {
        case .json:
            terminal.print(try JSONOutput.encodeList(entries))
        case .text:
            RunSummary.printNotices(result, terminal: terminal)
            if entries.isEmpty { terminal.print("no snapshots on the servers or in \(options.stateDirectory.path)/snapshots") }
            let width = max(entries.map(\.name.count).max() ?? 4, 4)
            let formatter = ISO8601DateFormatter()
            if !entries.isEmpty {
                terminal.print(terminal.dim("NAME".padding(toLength: width, withPad: " ", startingAt: 0) + "  CREATED               SIZE       SHA256        WHERE"))
            }
            for entry in entries {
                terminal.print("\(entry.name.padding(toLength: width, withPad: " ", startingAt: 0))  \(formatter.string(from: entry.created))  "
                               + "\(ByteCount.text(Int64(entry.size)).padding(toLength: 9, withPad: " ", startingAt: 0))  \(entry.sha256.prefix(12))  \(entry.location)")
            }
        }
        if !result.ok {
            if outputOptions.output == .text { RunSummary.print(result, terminal: terminal, done: "listed", again: "snapshot list") }
            throw ExitCodes.failure
        }
    }
}

struct SnapshotRestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore the cluster from an etcd snapshot (RKE2's procedure: every server stops; the cluster starts again from it).",
        discussion: """
            NAME is a snapshot's file name as `snapshot list` shows it, on a server or in the state directory \
            (uploaded to the initial server first). Every server stops; the initial server runs \
            `rke2 server --cluster-reset --cluster-reset-restore-path=...` and starts; each other server's \
            etcd data is moved aside and it joins again, one at a time; Nodes the snapshot holds that the \
            inventory no longer names are deleted. Everything written to the cluster after the snapshot is \
            lost. Asks for confirmation on a terminal; without one, needs --yes. A restore that stopped half way \
            is finished by running it again.
            """)

    @Argument(help: "The snapshot to restore (its name in `parvester snapshot list`).")
    var name: String

    @OptionGroup var inventoryOptions: InventoryOptions
    @OptionGroup var outputOptions: OutputOptions
    @OptionGroup var runOptions: RunCommandOptions

    @Flag(name: .long, help: "Do not ask for confirmation.")
    var yes = false

    @Flag(name: .long, help: "Show what the restore would do on each node (and what an earlier run finished); change nothing.")
    var dryRun = false

    func run() async throws {
        let terminal = Terminal()
        let inventory = try inventoryOptions.load(terminal: terminal, format: outputOptions.output)
        if !dryRun {
            try Confirmation.require("Restore cluster \(inventory.cluster.name) from \(name)? Every server stops, and what changed since the snapshot is lost.",
                                     yes: yes, terminal: terminal)
        }
        let result = try await runOptions.run(SnapshotActions.restore(inventory, name: name), inventory, dryRun: dryRun,
                                              output: outputOptions.output, terminal: terminal)
        try RunSummary.finish(result, format: outputOptions.output, terminal: terminal, done: dryRun ? "planned: nothing was changed" : "restored",
                              again: "snapshot restore \(name)\(dryRun ? " --dry-run" : "")")
    }
}

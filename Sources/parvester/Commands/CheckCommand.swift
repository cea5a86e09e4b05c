import ArgumentParser
import Kube
import ParvesterCore
import SSH

struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Connect to every node in parallel and report what each one is.",
        discussion: """
            One line per node: reachable, OS, kernel, architecture, whether sudo works, and the round-trip \
            time of one command. Exits with 1 if any node fails. Sudo passwords come from \
            \(SSHOptions.sudoPasswordVariable), key passphrases from \(SSHCredentials.passphraseVariable).
            """)

    @OptionGroup var inventoryOptions: InventoryOptions
    @OptionGroup var outputOptions: OutputOptions

    @Flag(name: .long, help: "Record host keys of nodes not yet in known_hosts (a changed key is still refused).")
    var acceptNewHostKeys = false

    func run() async throws {
        let terminal = Terminal()
        let inventory = try inventoryOptions.load(terminal: terminal, format: outputOptions.output)
        let pool = ConnectionPool(settings: ConnectionSettings(hostKeyPolicy: acceptNewHostKeys ? .acceptNew : .strict))
        let results = await ParallelRunner.map(inventory.nodes, width: inventory.concurrency) { node in
            await NodeChecker.check(node, pool: pool)
        }
        await pool.closeAll()

        let failed = results.filter { !$0.ok }.count
        switch outputOptions.output {
        case .json:
            terminal.print(try JSONOutput.encode(CheckReport(file: inventory.file, ok: failed == 0, nodes: results)))
        case .text:
            let nameWidth = results.map(\.node.count).max() ?? 0
            let addressWidth = results.map(\.address.count).max() ?? 0
            for result in results {
                let who = result.node.padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "  "
                    + result.address.padding(toLength: addressWidth, withPad: " ", startingAt: 0)
                if result.ok {
                    let rtt = result.roundTripMilliseconds.map { "rtt \($0)ms" } ?? ""
                    let facts = [result.os, result.kernel, result.arch].compactMap { $0 }.joined(separator: ", ")
                    terminal.print("\(terminal.green("✓")) \(who)  \(facts)  sudo \(result.sudo ?? "?")  \(rtt)")
                } else {
                    terminal.print("\(terminal.red("✗")) \(who)  \(result.error ?? "sudo \(result.sudo ?? "failed")")")
                }
            }
            let summary = "\(results.count - failed) of \(results.count) nodes OK"
            terminal.print(failed == 0 ? summary : "\(summary); \(failed) failed")
        }
        if failed > 0 { throw ExitCodes.failure }
    }
}

struct CheckReport: Encodable {
    var file: String
    var ok: Bool
    var nodes: [NodeCheckResult]
}

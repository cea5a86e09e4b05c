import Foundation

/// One command per node learns what every later phase needs to decide whether it has work there. Each
/// node is probed as soon as its session is up (see `NodeConnections`); when this phase ends, every
/// connect step has ended too.
struct GatherFactsPhase: ReadOnlyPhase {
    let id = "gather-facts"
    let title = "Gather facts"

    func run(_ context: RunContext) async throws {
        let managed = ManagedFiles(inventory: context.inventory)
        await context.forEach(context.healthy(context.inventory.nodes)) { node in
            guard await context.connections.connected(node) else { return }  // its connect step says why
            await context.step(id, node) {
                // The preamble runs outside sudo, which clears SSH_CONNECTION: the address this session arrived at.
                // Servers also hash the kubeconfig RKE2 wrote; the initial server also hands over its node-token.
                let files = managed.all + (node.role == .server ? [KubeconfigSource.path] : [])
                let sent = Date()
                let output = try await context.run(node, FactsProbe.command(managedFiles: files, units: FactsProbe.units + FactsProbe.hostUnits + [managed.bridgeUnitName],
                                                                            cleanUp: !context.planning,
                                                                            readToken: node.name == context.inventory.initialServer.name),
                                                   summary: "gather facts (os, rke2, services, file hashes, links)",
                                                   preamble: FactsProbe.sessionPreamble)
                let answered = Date()
                var facts = FactsProbe.parse(output.stdoutText)
                // The node's clock against this machine's, at the middle of the round trip (NTP's estimate).
                let middle = (sent.timeIntervalSince1970 + answered.timeIntervalSince1970) / 2
                facts.clockOffset = facts.clock.map { $0 - middle }
                facts.clockUncertainty = answered.timeIntervalSince(sent) / 2
                if let token = facts.nodeToken { context.addSecret(token.revealed) }
                context.setFacts(facts, for: node)
                return .ok("\(facts.os) \(facts.arch), RKE2 \(facts.rke2Version ?? "not installed")")
            }
        }
        await context.connections.finished()
    }
}

/// The files Parvester manages on nodes.
struct ManagedFiles {
    let inventory: Inventory

    var bridgeUnitName: String { BridgeUnitRenderer(inventory: inventory).unitName }
    var bridgeUnit: String { "/etc/systemd/system/" + bridgeUnitName }
    var all: [String] { [RKE2ConfigRenderer.configPath, RKE2ConfigRenderer.joinConfigPath, bridgeUnit, RestartMarker.path] }
}

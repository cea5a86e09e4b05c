/// One command per node learns what every later phase needs to decide whether it has work there.
struct GatherFactsPhase: Phase {
    let id = "gather-facts"
    let title = "Gather facts"

    func run(_ context: RunContext) async throws {
        let managed = ManagedFiles(inventory: context.inventory)
        await context.forEach(context.healthy(context.inventory.nodes)) { node in
            await context.step(id, node) {
                // The preamble runs outside sudo, which clears SSH_CONNECTION: the address this session arrived at.
                let output = try await context.run(node, FactsProbe.command(managedFiles: managed.all, units: FactsProbe.units + [managed.bridgeUnitName],
                                                                            cleanUp: !context.options.dryRun),
                                                   summary: "gather facts (os, rke2, services, file hashes, links)",
                                                   preamble: FactsProbe.sessionPreamble)
                let facts = FactsProbe.parse(output.stdoutText)
                context.setFacts(facts, for: node)
                return .ok("\(facts.os) \(facts.arch), RKE2 \(facts.rke2Version ?? "not installed")")
            }
        }
    }
}

/// The files Parvester manages on nodes.
struct ManagedFiles {
    let inventory: Inventory

    var bridgeUnitName: String { BridgeUnitRenderer(inventory: inventory).unitName }
    var bridgeUnit: String { "/etc/systemd/system/" + bridgeUnitName }
    var all: [String] { [RKE2ConfigRenderer.configPath, RKE2ConfigRenderer.joinConfigPath, bridgeUnit] }
}

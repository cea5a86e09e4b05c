import SSH

/// The memo's VM bridge on every node (`ip link add br0 type bridge`, the uplink enslaved, both up),
/// made by a systemd oneshot unit that also re-creates it at every boot. Nothing is done where the
/// unit, its enablement and the links are already as wanted.
struct BridgePhase: Phase {
    let id = "bridges"
    let title = "Bridges with their uplinks, persisted across reboots"

    func run(_ context: RunContext) async throws {
        let inventory = context.inventory
        let renderer = BridgeUnitRenderer(inventory: inventory)
        let bridge = inventory.bridge.name
        await context.forEach(context.healthy(inventory.nodes)) { node in
            await context.step(id, node) {
                let facts = context.facts(node)
                guard let uplink = node.uplink else { return try await retire(context, node, renderer: renderer, facts: facts) }
                let file = try renderer.file(for: node)
                let unitCurrent = facts?.fileHashes[file.path] == SHA256.hex(file.content)
                let enabled = facts?.enabled[renderer.unitName] == "enabled"
                let links = facts?.links ?? [:]
                let linked = links[bridge]?.isBridge == true && links[bridge]?.up == true
                    && links[uplink]?.master == bridge && links[uplink]?.up == true
                if unitCurrent && enabled && linked { return .unchanged }
                if context.options.dryRun { return .changed("would set up \(bridge) with \(uplink)") }
                if !unitCurrent { try await context.write(file, to: node) }
                let unit = ShellQuote.quote(renderer.unitName)
                try await context.run(node, "systemctl daemon-reload && systemctl enable \(unit) && systemctl restart \(unit)")
                let check = try await context.run(node, "ip -o link show master \(ShellQuote.quote(bridge))", allowFailure: true)
                guard check.stdoutText.contains(" \(uplink):") || check.stdoutText.contains(" \(uplink)@") else {
                    throw HostRefused("\(renderer.unitName) ran, but \(uplink) is not in \(bridge); see journalctl -u \(renderer.unitName)")
                }
                return .changed("\(bridge) with \(uplink)" + (unitCurrent ? "" : ", \(file.path)"))
            }
        }
    }

    /// A node whose uplink left the inventory: its bridge unit (which Parvester wrote) is disabled and
    /// removed, so the next boot does not build a bridge nobody asked for. The bridge up now stays
    /// until then: taking it down could cut VMs off mid-run.
    private func retire(_ context: RunContext, _ node: Node, renderer: BridgeUnitRenderer, facts: NodeFacts?) async throws -> RunContext.Done {
        let path = "/etc/systemd/system/" + renderer.unitName
        guard facts?.fileHashes[path] != nil || facts?.enabled[renderer.unitName] == "enabled" else {
            return .ok("no uplink given: no bridge")
        }
        if context.options.dryRun { return .changed("would disable and remove \(renderer.unitName): no uplink in the inventory") }
        let unit = ShellQuote.quote(renderer.unitName)
        try await context.run(node, "systemctl disable \(unit) 2>/dev/null; rm -f \(ShellQuote.quote(path)) && systemctl daemon-reload")
        return .changed("disabled and removed \(renderer.unitName) (no uplink in the inventory); the bridge stays up until the next boot")
    }
}

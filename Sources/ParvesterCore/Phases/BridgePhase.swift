import SSH

/// The memo's VM bridge on every node (`ip link add br0 type bridge`, the uplink enslaved, both up),
/// made by a systemd oneshot unit that also re-creates it at every boot. Nothing is done where the
/// unit, its enablement and the links are already as wanted.
struct BridgePhase: Phase {
    let id = "bridges"
    let title = "Bridges with their uplinks, persisted across reboots"

    /// What one node needs.
    enum Work {
        case none(RunContext.Done)
        case setUp(file: RenderedFile, uplink: String, unitCurrent: Bool)
        /// Its uplink left the inventory: the unit Parvester wrote goes.
        case retire
    }

    static func work(_ context: RunContext, _ node: Node) throws -> Work {
        let inventory = context.inventory
        let renderer = BridgeUnitRenderer(inventory: inventory)
        let bridge = inventory.bridge.name
        let facts = context.facts(node)
        guard let uplink = node.uplink else {
            let path = "/etc/systemd/system/" + renderer.unitName
            let ours = facts?.fileHashes[path] != nil || facts?.enabled[renderer.unitName] == "enabled"
            return ours ? .retire : .none(.ok("no uplink given: no bridge"))
        }
        let file = try renderer.file(for: node)
        let unitCurrent = facts?.fileHashes[file.path] == SHA256.hex(file.content)
        let enabled = facts?.enabled[renderer.unitName] == "enabled"
        let links = facts?.links ?? [:]
        let linked = links[bridge]?.isBridge == true && links[bridge]?.up == true
            && links[uplink]?.master == bridge && links[uplink]?.up == true
        return unitCurrent && enabled && linked ? .none(.unchanged) : .setUp(file: file, uplink: uplink, unitCurrent: unitCurrent)
    }

    func describe(_ context: RunContext) async throws {
        let unit = BridgeUnitRenderer(inventory: context.inventory).unitName
        await context.forEach(context.healthy(context.inventory.nodes)) { node in
            await context.step(id, node) {
                switch try Self.work(context, node) {
                case .none(let done): return done
                case .setUp(_, let uplink, _): return .changed("would set up \(context.inventory.bridge.name) with \(uplink)")
                case .retire: return .changed("would disable and remove \(unit): no uplink in the inventory")
                }
            }
        }
    }

    func run(_ context: RunContext) async throws {
        let renderer = BridgeUnitRenderer(inventory: context.inventory)
        let bridge = context.inventory.bridge.name
        await context.forEach(context.healthy(context.inventory.nodes)) { node in
            await context.step(id, node) {
                switch try Self.work(context, node) {
                case .none(let done):
                    return done
                case .retire:
                    try await Self.removeUnit(context, node)
                    return .changed("disabled and removed \(renderer.unitName) (no uplink in the inventory); the bridge stays up until the next boot")
                case .setUp(let file, let uplink, let unitCurrent):
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
    }

    /// Disables and removes the bridge unit Parvester wrote, so the next boot builds no bridge. The bridge
    /// up now stays until then: taking it down could cut VMs off mid-run.
    static func removeUnit(_ context: RunContext, _ node: Node) async throws {
        let renderer = BridgeUnitRenderer(inventory: context.inventory)
        let unit = ShellQuote.quote(renderer.unitName)
        let path = ShellQuote.quote("/etc/systemd/system/" + renderer.unitName)
        try await context.run(node, "systemctl disable --now \(unit) 2>/dev/null; rm -f \(path) && systemctl daemon-reload",
                              summary: "disable and remove \(renderer.unitName)")
    }
}

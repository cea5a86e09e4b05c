import Foundation
import SSH

/// The memo's VM bridge on every node, owned by whatever configures the uplink at boot
/// (`NetworkStack`): netplan, NetworkManager, ifupdown or systemd-networkd get the bridge in their own
/// configuration, through a `NetworkTransaction` that rolls itself back unless Parvester reconnects and
/// confirms; where nothing configures the uplink, a systemd oneshot unit makes the bridge at boot. With
/// `bridge.moveAddresses` the uplink's addresses, routes and DNS move to the bridge (a node with one NIC).
/// Nothing is done where the configuration and the links are already as wanted.
struct BridgePhase: Phase {
    let id = "bridges"
    let title = "Bridges with their uplinks, persisted across reboots"

    /// What one node needs.
    enum Work {
        case none(RunContext.Done)
        /// Nothing configures the uplink: the oneshot unit.
        case setUp(file: RenderedFile, uplink: String, unitCurrent: Bool)
        /// Its uplink left the inventory: the unit Parvester wrote goes.
        case retire
        /// The node's network stack gets the bridge (or has it, and only the old oneshot unit goes).
        case stack(BridgeChange, uplink: String, unitPresent: Bool)
        /// A change an earlier run applied and did not confirm (killed): it is in place and works.
        case confirm(BridgeChange, uplink: String, unitPresent: Bool)
        /// A change an earlier run armed and never finished: restore it now, then make it again.
        case recover(BridgeChange, uplink: String, unitPresent: Bool)
    }

    static func work(_ context: RunContext, _ node: Node) throws -> Work {
        let inventory = context.inventory
        let renderer = BridgeUnitRenderer(inventory: inventory)
        let bridge = inventory.bridge.name
        let facts = context.facts(node)
        let unitPath = "/etc/systemd/system/" + renderer.unitName
        let unitPresent = facts?.fileHashes[unitPath] != nil || facts?.enabled[renderer.unitName] == "enabled"
        guard let uplink = node.uplink else {
            return unitPresent ? .retire : .none(.ok("no uplink given: no bridge"))
        }
        let stack = facts.map { NetworkStack.owner(of: uplink, $0) } ?? .none
        let links = facts?.links ?? [:]
        let linked = links[bridge]?.isBridge == true && links[bridge]?.up == true && links[uplink]?.master == bridge
            && (links[uplink]?.up == true || inventory.bridge.moveAddresses)
        guard stack != .none, let facts else {
            if inventory.bridge.moveAddresses {
                throw HostRefused("bridge.moveAddresses: nothing on \(node.name) configures \(uplink) (no netplan, NetworkManager, ifupdown or systemd-networkd "
                                  + "configuration names it), so its addresses would not come back after a reboot. Configure \(uplink) with the node's network stack first")
            }
            let file = try renderer.file(for: node)
            let unitCurrent = facts?.fileHashes[file.path] == SHA256.hex(file.content)
            let enabled = facts?.enabled[renderer.unitName] == "enabled"
            return unitCurrent && enabled && linked && links[uplink]?.up == true ? .none(.unchanged) : .setUp(file: file, uplink: uplink, unitCurrent: unitCurrent)
        }
        guard let change = try BridgeChangeRenderer(bridge: bridge, uplink: uplink, moveAddresses: inventory.bridge.moveAddresses, facts: facts).change(stack) else {
            return .none(.unchanged)
        }
        let addressed = change.moved == nil || facts.sshAddress.map { links[bridge]?.addresses.contains($0) ?? false } ?? true
        let inPlace = change.current && linked && addressed
        if let line = facts.networkPending, let pending = NetworkTransaction.Pending(line) {
            if inPlace { return .confirm(change, uplink: uplink, unitPresent: unitPresent) }
            if facts.isActive(NetworkTransaction.timerUnit + ".timer") {
                let at = Date(timeIntervalSince1970: pending.deadline)
                throw HostRefused("a change to \(pending.bridge) (\(pending.stack)) that an earlier run did not confirm is rolling back by itself at "
                                  + "\(Self.clock(at)); run up again after that")
            }
            return .recover(change, uplink: uplink, unitPresent: unitPresent)
        }
        if inPlace && !unitPresent { return .none(.unchanged) }
        return .stack(change, uplink: uplink, unitPresent: unitPresent)
    }

    func describe(_ context: RunContext) async throws {
        let unit = BridgeUnitRenderer(inventory: context.inventory).unitName
        let bridge = context.inventory.bridge.name
        await context.forEach(context.healthy(context.inventory.nodes)) { node in
            await context.step(id, node) {
                switch try Self.work(context, node) {
                case .none(let done): return done
                case .setUp(_, let uplink, _): return .changed("would set up \(bridge) with \(uplink) (a oneshot unit: nothing else configures \(uplink))")
                case .retire: return .changed("would disable and remove \(unit): no uplink in the inventory")
                case .stack(let change, let uplink, let unitPresent):
                    if change.current { return .changed("would disable and remove \(unit): \(change.stack.rawValue) has \(bridge)") }
                    return .changed("would " + Self.summary(change, uplink: uplink, bridge: bridge, context: context) + (unitPresent ? ", then remove \(unit)" : ""))
                case .confirm(let change, _, _): return .changed("would confirm the \(change.stack.rawValue) change to \(bridge) an earlier run left armed")
                case .recover(let change, let uplink, _):
                    return .changed("would roll back the unconfirmed change an earlier run left, then " + Self.summary(change, uplink: uplink, bridge: bridge, context: context))
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
                case .confirm(let change, _, let unitPresent):
                    try await Self.confirm(context, node, change)
                    if unitPresent { try await Self.removeUnit(context, node) }
                    return .changed("confirmed the \(change.stack.rawValue) change to \(bridge) an earlier run left armed")
                case .recover(let change, let uplink, let unitPresent):
                    _ = try? await context.run(node, NetworkTransaction.rollbackNow, summary: "roll back the network change an earlier run did not confirm", timeout: 60)
                    try await Self.reconnect(context, node, until: Date().addingTimeInterval(context.inventory.bridge.rollbackAfter), verify: nil)
                    return try await Self.switchOver(context, node, change, uplink: uplink, unitPresent: unitPresent, prefix: "rolled back an unconfirmed change; ")
                case .stack(let change, let uplink, let unitPresent):
                    if change.current {  // the stack has the bridge: only the old oneshot unit goes
                        try await Self.removeUnit(context, node)
                        return .changed("\(change.stack.rawValue) has \(bridge): disabled and removed \(renderer.unitName)")
                    }
                    return try await Self.switchOver(context, node, change, uplink: uplink, unitPresent: unitPresent)
                }
            }
        }
    }

    static func summary(_ change: BridgeChange, uplink: String, bridge: String, context: RunContext) -> String {
        let what = change.moved == nil ? "make \(bridge) with \(uplink)" : "move \(uplink)'s addresses to \(bridge)"
        let files = change.files.map(\.path).joined(separator: ", ")
        return "\(what) through \(change.stack.rawValue)" + (files.isEmpty ? "" : " (\(files))")
            + ", rolled back after \(Int(context.inventory.bridge.rollbackAfter)) s unless confirmed"
    }

    /// The transaction: arm, write, apply, reconnect, check, confirm.
    static func switchOver(_ context: RunContext, _ node: Node, _ change: BridgeChange, uplink: String, unitPresent: Bool,
                           prefix: String = "") async throws -> RunContext.Done {
        let inventory = context.inventory
        let bridge = inventory.bridge.name
        let transaction = NetworkTransaction(change: change, bridge: bridge, uplink: uplink, rollbackAfter: inventory.bridge.rollbackAfter)
        let armed = Date()
        try await context.run(node, transaction.prepare(now: armed),
                              summary: "back up the network configuration and arm its rollback in \(Int(transaction.rollbackAfter)) s")
        for file in change.files { try await context.write(file, to: node) }
        if !change.removals.isEmpty { try await context.run(node, "rm -f " + change.removals.map(ShellQuote.quote).joined(separator: " ")) }
        // The session may drop while the change applies: the command's answer may never come.
        _ = try? await context.run(node, transaction.applyDetached, summary: "apply the \(change.stack.rawValue) configuration", timeout: 20, allowFailure: true)
        let fires = armed.addingTimeInterval(transaction.rollbackAfter)
        // Leave the confirm a margin before the timer fires.
        let deadline = armed.addingTimeInterval(max(transaction.rollbackAfter * 0.75, transaction.rollbackAfter - 15))
        let sshAddress = context.facts(node)?.sshAddress
        let verified = try await reconnect(context, node, until: deadline, verify: { output in
            let parts = output.components(separatedBy: "addresses\n")
            let enslaved = parts[0].contains(" \(uplink):") || parts[0].contains(" \(uplink)@")
            let addressed = change.moved == nil || sshAddress.map { address in parts.count > 1 && parts[1].contains(" \(address)/") } ?? true
            return enslaved && addressed
        })
        guard verified else {
            let back = (try? await reconnect(context, node, until: fires.addingTimeInterval(30), verify: nil, after: fires)) ?? false
            throw HostRefused("after the \(change.stack.rawValue) change to \(bridge), \(node.name) did not come back with \(uplink) in \(bridge) "
                              + "within \(Int(deadline.timeIntervalSince(armed))) s; it restored its previous network configuration by itself at \(clock(fires))"
                              + (back ? ", and is reachable again" : ", but is not reachable yet: check its console")
                              + ". See docs/single-nic.md")
        }
        try await confirm(context, node, change)
        if unitPresent { try await removeUnit(context, node) }
        let what = change.moved == nil ? "\(bridge) with \(uplink)" : "\(uplink)'s addresses moved to \(bridge)"
        return .changed(prefix + "\(what) through \(change.stack.rawValue), confirmed" + (unitPresent ? "; removed the oneshot unit" : ""))
    }

    static func confirm(_ context: RunContext, _ node: Node, _ change: BridgeChange) async throws {
        let answer = try await context.run(node, NetworkTransaction.confirm, summary: "confirm the network change (stop its rollback timer)", allowFailure: true)
        if answer.exitStatus == 3 {
            throw HostRefused("the rollback timer fired before Parvester could confirm: \(node.name) is back on its previous network configuration. "
                              + "Raise bridge.rollbackAfter if the node needs longer to come back, and run up again")
        }
        guard answer.succeeded else { throw HostRefused("confirming the network change failed: \(answer.stderrText)") }
    }

    /// Connects anew until `verify` accepts what the node answers (or, without one, until it answers),
    /// one try a second, from `after` until `until`.
    static func reconnect(_ context: RunContext, _ node: Node, until: Date, verify: ((String) -> Bool)?, after: Date? = nil) async throws -> Bool {
        if let after, after > Date() { try await Task.sleep(for: .seconds(after.timeIntervalSinceNow)) }
        let bridge = context.inventory.bridge.name
        let check = verify == nil ? "true" : "ip -o link show master \(ShellQuote.quote(bridge)); echo addresses; ip -o addr show dev \(ShellQuote.quote(bridge))"
        while Date() < until {
            do {
                try await context.reconnect(node)
                let answer = try await context.run(node, check, summary: "check the bridge after the network change", timeout: 10, allowFailure: true)
                if verify?(answer.stdoutText) ?? true { return true }
            } catch {}
            try await Task.sleep(for: .seconds(1))
        }
        return false
    }

    static func clock(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "HH:mm:ss"
        return formatter.string(from: date)
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

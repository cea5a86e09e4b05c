/// Refuses nodes that would break: a missing uplink, an uplink that carries the SSH connection (moving it
/// into the bridge would cut it), RKE2's host prerequisites (`HostChecks`: firewall, NetworkManager, host
/// names, clocks, disk, kernel modules, sysctls, swap, cgroups), and `virt-host-validate qemu` failures.
/// All of it from the facts already gathered: no command of its own.
struct ValidateHostsPhase: ReadOnlyPhase {
    let id = "validate-hosts"
    let title = "Validate hosts (uplink, RKE2's prerequisites, virt-host-validate)"

    func run(_ context: RunContext) async throws {
        let inventory = context.inventory
        let gathered = context.healthy(inventory.nodes).compactMap { node in context.facts(node).map { (node: node, facts: $0) } }
        let acrossNodes = HostChecks.acrossNodes(gathered)
        await context.forEach(context.healthy(inventory.nodes)) { node in
            await context.step(id, node) {
                guard let facts = context.facts(node) else { throw RunAbort("no facts gathered") }
                var notes: [String] = []
                try refuseRoleChange(node, facts)
                var failures: [HostFinding] = []
                for finding in HostChecks.findings(node, facts, inventory.cluster) + (acrossNodes[node.name] ?? []) {
                    switch HostChecks.level(finding.check, inventory.cluster) {
                    case .fail: failures.append(finding)
                    case .warn: notes.append("warning: " + finding.text)
                    case .skip: break
                    }
                }
                if !failures.isEmpty {
                    let names = Set(failures.map(\.check.rawValue)).sorted().map { "\($0): warn" }.joined(separator: ", ")
                    throw HostRefused(failures.map(\.text).joined(separator: "; ") + " (to go on anyway: cluster.hostChecks: {\(names)})")
                }
                if let uplink = node.uplink {
                    guard let link = facts.links[uplink] else {
                        let names = facts.links.keys.filter { $0 != "lo" }.sorted().joined(separator: ", ")
                        throw HostRefused("the uplink \(uplink) does not exist on \(node.name) (its interfaces: \(names)); set nodes[].uplink or bridge.uplink")
                    }
                    let carrier = facts.sshAddress.flatMap { facts.link(carrying: $0) }
                    // Enslaving the interface that carries the session without moving its addresses cuts the node
                    // off; moving them (bridge.moveAddresses) is what a single-NIC node needs.
                    if let carrier, carrier.name == uplink, !inventory.bridge.moveAddresses {
                        throw HostRefused("the uplink \(uplink) carries the SSH connection (\(facts.sshAddress ?? "")): putting it in \(inventory.bridge.name) "
                                          + "without its addresses cuts the node off. Use another uplink, or set bridge.moveAddresses: true to move them to "
                                          + "\(inventory.bridge.name) through the node's network stack (see docs/single-nic.md)"
                                          + (inventory.bridge.allowSSHInterface ? "; bridge.allowSSHInterface no longer enslaves it as it is" : ""))
                    }
                }
                if inventory.cluster.virtHostValidate != .skip, facts.virtHostValidate == nil {
                    notes.append("virt-host-validate is not installed, so VM support was not checked (cluster.installHostTools: true installs it)")
                }
                if inventory.cluster.virtHostValidate != .skip, let lines = facts.virtHostValidate {
                    let failures = lines.filter { $0.contains(": FAIL") }
                    if !failures.isEmpty {
                        let text = failures.map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: "; ")
                        if inventory.cluster.virtHostValidate == .fail {
                            throw HostRefused("virt-host-validate qemu: \(text) (set cluster.virtHostValidate: warn to go on anyway)")
                        }
                        notes.append("warning: virt-host-validate qemu: \(text)")
                    }
                }
                return .ok(notes.isEmpty ? nil : notes.joined(separator: "; "))
            }
        }
        let initial = inventory.initialServer
        if context.hasFailed(initial) {
            throw RunAbort("the initial server \(initial.name) did not pass validation")
        }
    }
}

/// RKE2's units conflict (Conflicts=): starting rke2-agent on a server stops rke2-server without a word,
/// leaving both enabled and the etcd member behind. A role change is a removal and a new node.
private func refuseRoleChange(_ node: Node, _ facts: NodeFacts) throws {
    let (own, other) = node.role == .server ? ("rke2-server", "rke2-agent") : ("rke2-agent", "rke2-server")
    let active = facts.isActive(other), enabled = facts.enabled[other] == "enabled"
    guard active || enabled else { return }
    let how = [active ? "active" : nil, enabled ? "enabled" : nil].compactMap { $0 }.joined(separator: " and ")
    throw HostRefused("\(node.name) runs \(other) (\(how)), but the inventory makes it \(node.role == .server ? "a server" : "an agent"): "
                      + "a node cannot change role in place (starting \(own) would stop \(other)). Remove the node (run rke2-uninstall.sh on it "
                      + "and delete its Node object), then run up again to add it back, or give it its old role")
}

/// A check said no (a host, a removal, what a reset left): the message says why and what to do.
struct HostRefused: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

import SSH

/// `cluster.installHostTools: true`: installs virt-host-validate (libvirt's client tools, as the memo
/// does with `apt install libvirt-clients`) with the node's package manager where it is missing, then
/// runs it, so that `validate-hosts` checks the node for VMs. Nothing is installed unless asked.
struct HostToolsPhase: Phase {
    let id = "host-tools"
    let title = "Install host tools (virt-host-validate)"

    func targets(_ context: RunContext) -> [String] {
        let cluster = context.inventory.cluster
        return cluster.installHostTools && cluster.virtHostValidate != .skip ? context.inventory.nodes.map(\.name) : []
    }

    /// apt (Debian, Ubuntu), dnf (Fedora, RHEL and its rebuilds), zypper (SUSE): whichever the node has.
    static let install = """
        if command -v apt-get >/dev/null 2>&1; then
          export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq --no-install-recommends libvirt-clients
        elif command -v dnf >/dev/null 2>&1; then dnf install -y -q libvirt-client
        elif command -v zypper >/dev/null 2>&1; then zypper --non-interactive --quiet install libvirt-client
        else echo "no apt-get, dnf or zypper on this node: install libvirt's client tools (virt-host-validate) by hand" >&2; exit 3
        fi
        """

    func needs(_ context: RunContext, _ node: Node) -> Bool { context.facts(node).map { $0.virtHostValidate == nil } ?? false }

    func describe(_ context: RunContext) async throws {
        await context.forEach(context.healthy(context.inventory.nodes)) { node in
            await context.step(id, node) { needs(context, node) ? .changed("would install libvirt's client tools (virt-host-validate)") : .unchanged }
        }
    }

    func run(_ context: RunContext) async throws {
        await context.forEach(context.healthy(context.inventory.nodes)) { node in
            await context.step(id, node) {
                guard needs(context, node), var facts = context.facts(node) else { return .unchanged }
                try await context.run(node, Self.install, summary: "install libvirt's client tools", timeout: max(context.options.commandTimeout, 600))
                let validate = try await context.run(node, "virt-host-validate qemu 2>&1", allowFailure: true)
                facts.virtHostValidate = validate.stdoutText.split(separator: "\n").map(String.init)
                context.setFacts(facts, for: node)
                return .changed("installed virt-host-validate")
            }
        }
    }
}

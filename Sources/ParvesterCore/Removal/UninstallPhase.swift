import Foundation

/// On each removed node that answers: RKE2's own rke2-killall.sh and rke2-uninstall.sh (which remove
/// /etc/rancher/rke2, /var/lib/rancher/rke2, /var/lib/kubelet and the CNI state), then the bridge unit
/// Parvester wrote and Parvester's files. The bridge and local-path data stay unless --wipe.
struct UninstallPhase: RemovalPhase {
    let id = "uninstall"
    let title = "Uninstall RKE2 on the removed nodes"
    let settings: RemovalSettings

    /// The node-side cleanup, one script; prints what it found to remove.
    /// `bridge`: also the bridge link (reset); a removal leaves it unless --wipe.
    static func script(_ inventory: Inventory, wipe: Bool, bridge: Bool = false) -> String {
        let unit = BridgeUnitRenderer(inventory: inventory).unitName
        var lines = [
            "found=''",
            "for dir in /usr/local/bin /usr/bin /opt/rke2/bin; do",
            "  if [ -x \"$dir/rke2-killall.sh\" ]; then \"$dir/rke2-killall.sh\" >/dev/null 2>&1 || true; found=\"$found killall\"; fi",
            "  if [ -x \"$dir/rke2-uninstall.sh\" ]; then \"$dir/rke2-uninstall.sh\" >/dev/null 2>&1 || { echo \"$dir/rke2-uninstall.sh failed\" >&2; exit 1; }; found=\"$found uninstall\"; fi",
            "done",
            // Stopped too: a oneshot that remains after exit stays active without its file. It has no
            // ExecStop, so the bridge itself stays up.
            "if [ -e /etc/systemd/system/\(unit) ]; then systemctl disable --now \(unit) >/dev/null 2>&1; rm -f /etc/systemd/system/\(unit); systemctl daemon-reload; found=\"$found unit\"; fi",
            // Emptied, then removed where it is not a mount point of its own. This run's own lock (reset
            // takes it on the initial server) goes too, but is not news.
            "if [ -n \"$(ls -A /var/lib/parvester 2>/dev/null | grep -vx run.lock)\" ]; then found=\"$found state\"; fi",
            "if [ -d /var/lib/parvester ]; then find /var/lib/parvester -mindepth 1 -delete; rmdir /var/lib/parvester 2>/dev/null; fi",
        ]
        if wipe || bridge {
            lines.append("if [ -e /sys/class/net/\(inventory.bridge.name) ]; then ip link del \(inventory.bridge.name); found=\"$found bridge\"; fi")
        }
        if wipe {
            lines += [
                "if [ -n \"$(ls -A /opt/local-path-provisioner 2>/dev/null)\" ]; then find /opt/local-path-provisioner -mindepth 1 -delete; rmdir /opt/local-path-provisioner 2>/dev/null; found=\"$found local-path\"; fi",
            ]
        }
        lines.append("echo \"removed:$found\"")
        return lines.joined(separator: "\n")
    }

    static func summary(_ output: String) -> String? {
        let words = output.split(separator: "\n").last { $0.hasPrefix("removed:") }?.dropFirst("removed:".count).split(separator: " ").map(String.init) ?? []
        let names = ["killall": "rke2-killall.sh", "uninstall": "rke2-uninstall.sh", "unit": "bridge unit", "state": "/var/lib/parvester",
                     "bridge": "bridge", "local-path": "local-path data"]
        var seen: [String] = []
        for word in words where !seen.contains(names[word] ?? word) { seen.append(names[word] ?? word) }
        return seen.isEmpty ? nil : seen.joined(separator: ", ")
    }

    func describe(_ context: RunContext) async throws {
        for node in context.removalNodes() {
            await context.step(id, node) {
                if context.cluster.leftDirty.contains(node.name) { return .ok("does not answer: would be left dirty") }
                return .changed("would run rke2-killall.sh and rke2-uninstall.sh, remove the bridge unit" + (settings.wipe ? ", the bridge and local-path data" : ""))
            }
        }
    }

    func run(_ context: RunContext) async throws {
        let state = context.options.stateDirectory
        let dirty = context.cluster.leftDirty
        await context.forEach(context.removalNodes()) { node in
            if dirty.contains(node.name) {
                context.skip(id, node, "does not answer: left dirty")
                context.report.notice("\(node.name) was removed from the cluster but not cleaned (it did not answer): when it is back, run rke2-uninstall.sh on it")
                PendingRemovals.finish(node.name, in: state)
                return
            }
            await context.step(id, node) {
                let output = try await context.run(node, Self.script(context.inventory, wipe: settings.wipe),
                                                   summary: "rke2-killall.sh, rke2-uninstall.sh, remove the bridge unit", timeout: 600)
                PendingRemovals.finish(node.name, in: state)
                return Self.summary(output.stdoutText).map { .changed($0) } ?? .unchanged
            }
        }
    }
}

import ArgumentParser
import Foundation
import Kube
import ParvesterCore

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Nodes, components, VM networks, images and VMs of the cluster, with their readiness, one line each.",
        discussion: "Reads the cluster through its API (-i for one `up` built, or a kubeconfig). Exits 1 when anything is not ready.")

    @OptionGroup var target: KubeTargetOptions
    @OptionGroup var outputOptions: OutputOptions

    struct Line: Encodable {
        var kind: String
        var name: String
        var ready: Bool
        var detail: String
    }

    /// Where each component shows it is ready: its workload, or its CR's Available condition.
    static let checks: [(title: String, kind: ComponentKind?, path: String, condition: String?, workload: String?)] = [
        ("Local Path Provisioner", .localPathProvisioner, "/apis/apps/v1/namespaces/local-path-storage/deployments/local-path-provisioner", nil, "Deployment"),
        ("KubeVirt", .kubevirt, "/apis/kubevirt.io/v1/namespaces/kubevirt/kubevirts/kubevirt", "Available", nil),
        ("CDI", .cdi, "/apis/cdi.kubevirt.io/v1beta1/cdis/cdi", "Available", nil),
        ("Multus", .multus, "/apis/apps/v1/namespaces/kube-system/daemonsets/kube-multus-ds", nil, "DaemonSet"),
    ]

    static let packagedMultusPath = "/apis/apps/v1/namespaces/\(PackagedMultus.namespace)/daemonsets/\(PackagedMultus.daemonSet)"

    func run() async throws {
        let terminal = Terminal()
        let cluster = try target.connect(terminal: terminal)
        var lines: [Line] = []
        for (name, ready) in try await KubeNodes.readiness(cluster.client).sorted(by: { $0.key < $1.key }) {
            lines.append(Line(kind: "node", name: name, ready: ready == "True", detail: "Ready=\(ready)"))
        }
        let enabled = cluster.inventory.map { Set($0.enabledComponents.map(\.kind)) }
        let multus = cluster.inventory?.components.first { $0.kind == .multus }
        for check in Self.checks where enabled == nil || enabled!.contains(check.kind!) {
            var response = try await cluster.client.send("GET", check.path)
            // RKE2's packaged Multus runs as its chart's DaemonSet: the inventory says which, else look for both.
            if check.kind == .multus, multus?.isRKE2PackagedMultus == true || (multus == nil && response.status == 404) {
                response = try await cluster.client.send("GET", Self.packagedMultusPath)
            }
            guard response.status == 200, let json = response.json else {
                lines.append(Line(kind: "component", name: check.title, ready: false, detail: response.status == 404 ? "not installed" : "HTTP \(response.status)"))
                continue
            }
            let (ready, seen) = check.condition.map { KubeWaiter.condition(json, $0) } ?? KubeWaiter.rolledOut(json, kind: check.workload!)
            lines.append(Line(kind: "component", name: check.title, ready: ready, detail: seen))
        }
        for network in cluster.inventory?.networks ?? [] {
            let response = try await cluster.client.send("GET", "/apis/k8s.cni.cncf.io/v1/namespaces/\(network.namespace)/network-attachment-definitions/\(network.name)")
            lines.append(Line(kind: "network", name: "\(network.namespace)/\(network.name)", ready: response.status == 200,
                              detail: response.status == 200 ? "bridge \(network.bridge)" + (network.vlan.map { ", VLAN \($0)" } ?? "") : "missing"))
        }
        for image in cluster.inventory?.images ?? [] {
            let response = try await cluster.client.send("GET", "/apis/cdi.kubevirt.io/v1beta1/namespaces/\(image.namespace)/datavolumes/\(image.name)")
            let status = response.json?["status"] as? [String: Any] ?? [:]
            let phase = status["phase"] as? String
            lines.append(Line(kind: "image", name: "\(image.namespace)/\(image.name)", ready: phase == "Succeeded",
                              detail: response.status == 404 ? "missing" : "\(phase ?? "no phase yet")" + ((status["progress"] as? String).map { ", \($0)" } ?? "")))
        }
        if let vms = cluster.inventory?.vms, !vms.isEmpty {
            let listed = Dictionary(uniqueKeysWithValues: try await VirtualMachineClient(client: cluster.client).list(namespace: nil)
                .map { ("\($0.namespace)/\($0.name)", $0) })
            for vm in vms {
                let found = listed["\(vm.namespace)/\(vm.name)"]
                // A VM the inventory wants stopped is fine stopped.
                let ready = found.map { vm.runsAtStart ? $0.ready : $0.status == "Stopped" } ?? false
                lines.append(Line(kind: "vm", name: "\(vm.namespace)/\(vm.name)", ready: ready, detail: found?.status ?? "missing"))
            }
        }
        if let inventory = cluster.inventory { lines.append(await certificates(inventory, terminal: terminal)) }
        switch outputOptions.output {
        case .json:
            terminal.print(try JSONOutput.encodeList(lines))
        case .text:
            let width = lines.map(\.name.count).max() ?? 0
            for line in lines {
                let mark = line.ready ? terminal.green("✓") : terminal.red("✗")
                terminal.print("\(mark) \(line.kind.padding(toLength: 9, withPad: " ", startingAt: 0)) \(line.name.padding(toLength: width, withPad: " ", startingAt: 0))  \(line.detail)")
            }
        }
        if lines.contains(where: { !$0.ready }) { throw ExitCodes.failure }
    }

    /// The servers' certificate that expires first (read over SSH, as `certs check` does): not ready once
    /// expired, a warning under 30 days.
    private func certificates(_ inventory: Inventory, terminal: Terminal) async -> Line {
        let state = target.stateDir.map { StateDirectory(path: $0) } ?? StateDirectory.default(cluster: inventory.cluster.name)
        let context = RunContext(inventory: inventory, options: RunOptions(waitTimeout: 60, stateDirectory: state, commandTimeout: 60), observer: nil)
        let result = await ActionRunner.run(SnapshotActions.certificates(inventory), context: context)
        guard let soonest = (result.certificates ?? []).min(by: { $0.notAfter < $1.notAfter }) else {
            return Line(kind: "certs", name: "servers", ready: true, detail: "not read: \(result.aborted ?? result.failedNodes.values.first ?? "no certificates found")")
        }
        let days = soonest.daysLeft()
        if days < CertificateExpiry.warningDays {
            terminal.warning("\(soonest.node): \(soonest.file) expires in \(days) days; RKE2 renews its certificates when it starts with under "
                             + "\(CertificateExpiry.renewalDays) days left: restart rke2-server there (`parvester certs check` lists them all)")
        }
        return Line(kind: "certs", name: soonest.node, ready: days >= 0, detail: "first to expire: \(soonest.file) in \(days) days")
    }
}

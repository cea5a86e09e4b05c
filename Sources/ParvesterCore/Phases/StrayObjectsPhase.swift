import Foundation
import Kube

/// Objects Parvester created for this cluster (labelled `parvester.io/cluster=NAME`) that the inventory
/// no longer names: VMs, their cloud-init Secrets, images (DataVolumes) and networks. Listed by `up` and
/// `plan`; deleted by `up --prune`, a VM before its disks, and never an image a remaining VM uses.
/// Objects without the label (made by hand, or by other tools) are never touched.
struct StrayObjectsPhase: Phase {
    let id = "stray-objects"
    let title = "Objects the inventory no longer names"
    let prune: Bool

    /// The kinds pruned, in deletion order.
    static let kinds: [(kind: String, base: String, plural: String)] = [
        ("VirtualMachine", "/apis/kubevirt.io/v1", "virtualmachines"),
        ("Secret", "/api/v1", "secrets"),
        ("DataVolume", "/apis/cdi.kubevirt.io/v1beta1", "datavolumes"),
        ("NetworkAttachmentDefinition", "/apis/k8s.cni.cncf.io/v1", "network-attachment-definitions"),
    ]

    struct Stray: Sendable {
        var kind: String
        var base: String
        var plural: String
        var namespace: String
        var name: String
        var shown: String { "\(kind) \(namespace)/\(name)" }
        var path: String { "\(base)/namespaces/\(namespace)/\(plural)/\(name)" }
    }

    func targets(_ context: RunContext) -> [String] { ["cluster"] }

    /// What the inventory names, per kind, as `namespace/name`.
    private func wanted(_ inventory: Inventory) -> [String: Set<String>] {
        [
            "VirtualMachine": Set(inventory.vms.map { "\($0.namespace)/\($0.name)" }),
            "Secret": Set(inventory.vms.filter { $0.cloudInit.password != nil }.map { "\($0.namespace)/\($0.cloudInitSecretName)" }),
            "DataVolume": Set(inventory.images.map { "\($0.namespace)/\($0.name)" }),
            "NetworkAttachmentDefinition": Set(inventory.networks.map { "\($0.namespace)/\($0.name)" }),
        ]
    }

    func find(_ context: RunContext, kube: KubeHTTPClient) async throws -> [Stray] {
        let selector = "\(Ownership.clusterLabel)=\(context.inventory.cluster.name)".addingPercentEncoding(withAllowedCharacters: .urlQueryValue) ?? ""
        let wanted = wanted(context.inventory)
        // One LIST per kind, all at once.
        let lists = try await withThrowingTaskGroup(of: (Int, KubeResponse).self) { group in
            for (index, kind) in Self.kinds.enumerated() {
                group.addTask { (index, try await kube.send("GET", "\(kind.base)/\(kind.plural)?labelSelector=\(selector)")) }
            }
            return try await group.reduce(into: [Int: KubeResponse]()) { $0[$1.0] = $1.1 }
        }
        var found: [Stray] = []
        for (index, kind) in Self.kinds.enumerated() {
            guard let response = lists[index], response.status != 404 else { continue }  // the kind is not served: nothing of it to prune
            guard response.status == 200, let items = response.json?["items"] as? [[String: Any]] else {
                throw KubeError.status(response, doing: "listing \(kind.plural)")
            }
            for item in items {
                let meta = item["metadata"] as? [String: Any] ?? [:]
                guard let namespace = meta["namespace"] as? String, let name = meta["name"] as? String, meta["deletionTimestamp"] == nil,
                      wanted[kind.kind]?.contains("\(namespace)/\(name)") != true else { continue }
                found.append(Stray(kind: kind.kind, base: kind.base, plural: kind.plural, namespace: namespace, name: name))
            }
        }
        return found
    }

    /// Images still used by a VM that stays are kept, naming the VM.
    private func blocked(_ strays: [Stray], users: DiskUsers) -> [String: [String]] {
        let leaving = Set(strays.filter { $0.kind == "VirtualMachine" }.map { "\($0.namespace)/\($0.name)" })
        var blocked: [String: [String]] = [:]
        for stray in strays where stray.kind == "DataVolume" {
            let using = users.users(ofDisk: stray.name, namespace: stray.namespace, except: leaving)
            if !using.isEmpty { blocked[stray.shown] = using }
        }
        return blocked
    }

    func describe(_ context: RunContext) async throws {
        guard let kube = context.kube else { return }
        let strays = try await find(context, kube: kube)
        guard !strays.isEmpty else { return try await context.clusterStep(id) { .ok("none") } }
        guard prune else { return notice(context, strays) }
        let blocked = blocked(strays, users: try await DiskUsers.read(kube))
        try await context.clusterStep(id) {
            .changed(strays.map { stray in
                blocked[stray.shown].map { "would keep \(stray.shown): used by \($0.joined(separator: ", "))" } ?? "would delete \(stray.shown)"
            }.joined(separator: "\n"))
        }
    }

    func run(_ context: RunContext) async throws {
        let (kube, _) = try context.clusterClient()
        let strays = try await find(context, kube: kube)
        guard !strays.isEmpty else { return try await context.clusterStep(id) { .ok("none") } }
        guard prune else { return notice(context, strays) }
        let blocked = blocked(strays, users: try await DiskUsers.read(kube))
        try await context.clusterStep(id) {
            var deleted: [String] = []
            for stray in strays {
                if let used = blocked[stray.shown] {
                    context.report.notice("\(stray.shown) is kept: \(used.joined(separator: ", ")) still \(used.count == 1 ? "uses" : "use") it")
                    continue
                }
                context.report.command(target: "cluster", "delete \(stray.shown)")
                let response = try await kube.send("DELETE", stray.path)
                guard (200..<300).contains(response.status) || response.status == 404 else { throw KubeError.status(response, doing: "deleting \(stray.shown)") }
                // A VM's instance goes before its disk does.
                try await Waiter.until("\(stray.shown) to be gone", timeout: context.options.waitTimeout) {
                    let left = try await kube.send("GET", stray.path)
                    return (left.status == 404, "HTTP \(left.status)")
                }
                deleted.append(stray.shown)
            }
            return deleted.isEmpty ? .unchanged : .changed("deleted " + deleted.joined(separator: ", "))
        }
    }

    private func notice(_ context: RunContext, _ strays: [Stray]) {
        for stray in strays {
            context.report.notice("\(stray.shown) belongs to cluster \(context.inventory.cluster.name) but is not in the inventory: `up --prune` deletes it")
        }
    }
}

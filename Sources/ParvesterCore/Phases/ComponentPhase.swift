import Foundation
import Kube

/// One component of the memo (Local Path Provisioner, KubeVirt, CDI, Multus): its manifests fetched
/// (or read from the cache), applied in order by server-side apply, then waited for: every workload
/// rolled out, and KubeVirt's and CDI's CRs Available.
struct ComponentPhase: Phase {
    let component: Component
    var id: String { "component-\(component.kind.rawValue)" }
    var title: String {
        component.isRKE2PackagedMultus ? "Wait for RKE2's packaged Multus" : "Apply \(component.kind.title) \(component.version)"
    }
    static let availableKinds: Set<String> = ["KubeVirt", "CDI"]
    func targets(_ context: RunContext) -> [String] { [component.kind.rawValue] }
    func note(_ context: RunContext) -> String? { "wait until ready" }

    private var record: ComponentRecord { ComponentRecord(component: component.kind) }

    /// The release's objects compared with the live ones by a server dry run, and the objects of an
    /// earlier source or release that would be deleted.
    func describe(_ context: RunContext) async throws {
        try await context.clusterStep(id) {
            var objects: [KubeObject] = []
            for url in component.manifestURLs {
                let text = try await context.options.manifests.text(for: url, offline: context.options.offline, pinned: component.pinnedSHA256[url])
                objects += try KubeObject.parse(text, source: url)
            }
            var lines = try await context.planRendered(objects)
            if let kube = context.kube, let discovery = context.discovery {
                let stale = ComponentRecord.stale(try await record.read(kube), current: await ComponentRecord.entries(objects, discovery: discovery))
                lines += stale.map { "would delete \($0.shown) (not in \(component.isRKE2PackagedMultus ? "RKE2's Multus" : "this release"))" }
            }
            if component.isRKE2PackagedMultus && lines.isEmpty { return .ok("RKE2 deploys it; up waits for its DaemonSet") }
            return RunContext.planned(lines)
        }
    }

    func run(_ context: RunContext) async throws {
        try await context.clusterStep(id) {
            guard let kube = context.kube, let discovery = context.discovery else { throw RunAbort("no API client: the cluster did not come up") }
            let recorded = try await record.read(kube)
            if component.isRKE2PackagedMultus {
                // The release's objects go first: two Multus installations would fight over the CNI config.
                let deleted = try await ComponentRecord.prune(ComponentRecord.stale(recorded, current: []), kube: kube, discovery: discovery)
                if recorded != nil { try await record.remove(kube) }
                let done = try await waitForPackagedMultus(context)
                return deleted.isEmpty ? done : .changed("deleted the release's " + deleted.joined(separator: ", ") + "; RKE2's Multus ready")
            }
            var counts: [ApplyResult.Outcome: Int] = [:]
            var applied: [KubeObject] = []
            // Manifests in order: an operator before its CR.
            for url in component.manifestURLs {
                let text = try await context.options.manifests.text(for: url, offline: context.options.offline,
                                                                    pinned: component.pinnedSHA256[url])
                let objects = try KubeObject.parse(text, source: url)
                applied += objects
                var applier = KubeApplier(client: kube, discovery: discovery)
                applier.establishTimeout = context.options.waitTimeout
                let results = await applier.apply(objects)
                for result in results {
                    counts[result.outcome, default: 0] += 1
                    context.report.command(target: "cluster", "\(result.outcome.rawValue) \(result.object)")
                }
                if let failed = results.first(where: { $0.outcome == .failed }) {
                    throw ManifestError("\(failed.object) from \(failed.source): \(failed.error ?? "failed")")
                }
                let waiter = KubeWaiter(client: kube, discovery: discovery)
                for object in objects where KubeWaiter.isWorkload(object.kind) || Self.availableKinds.contains(object.kind) {
                    try await waiter.waitReady(object, namespace: "default", condition: Self.availableKinds.contains(object.kind) ? "Available" : nil,
                                               timeout: context.options.waitTimeout)
                }
            }
            var summary = ApplyResult.Outcome.allCases.compactMap { outcome in counts[outcome].map { "\($0) \(outcome.rawValue)" } }.joined(separator: ", ")
            var changed = (counts[.created] ?? 0) + (counts[.configured] ?? 0) > 0
            // What an earlier release (or source) had and this one lacks, then the record of this one.
            let current = await ComponentRecord.entries(applied, discovery: discovery)
            let deleted = try await ComponentRecord.prune(ComponentRecord.stale(recorded, current: current), kube: kube, discovery: discovery)
            if !deleted.isEmpty {
                summary += "; deleted " + deleted.joined(separator: ", ")
                changed = true
            }
            if recorded.map(Set.init) != Set(current) {
                try await record.write(current, cluster: context.inventory.cluster.name, kube: kube, discovery: discovery)
            }
            return changed ? .changed(summary + "; ready") : .unchanged
        }
    }

    /// RKE2 deploys its Multus chart itself (`cni: [multus, canal]` in the server config, pushed earlier):
    /// nothing to apply, but the VM networks need its CRD served and its DaemonSet on every node.
    private func waitForPackagedMultus(_ context: RunContext) async throws -> RunContext.Done {
        let (kube, discovery) = try context.clusterClient()
        let waiter = KubeWaiter(client: kube, discovery: discovery)
        try await waiter.waitEstablished(PackagedMultus.crd, timeout: context.options.waitTimeout)
        await discovery.invalidate()
        let daemonSet = KubeObject(apiVersion: "apps/v1", kind: "DaemonSet", name: PackagedMultus.daemonSet,
                                   namespace: PackagedMultus.namespace, source: "RKE2's rke2-multus chart", node: .null)
        try await waiter.waitReady(daemonSet, namespace: nil, timeout: context.options.waitTimeout)
        return .ok("\(PackagedMultus.namespace)/\(PackagedMultus.daemonSet) ready")
    }
}

/// Where RKE2's packaged Multus shows up: its chart's DaemonSet and the NetworkAttachmentDefinition CRD.
public enum PackagedMultus {
    public static let namespace = "kube-system"
    public static let daemonSet = "rke2-multus"
    public static let crd = "network-attachment-definitions.k8s.cni.cncf.io"
}

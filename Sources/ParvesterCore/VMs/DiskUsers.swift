import Foundation
import Kube

/// Which VirtualMachines use which disks (PVCs and DataVolumes, by `namespace/name`) and cloud-init
/// Secrets: an image is not deleted while a VM uses it, and a VM's own disks go with it only on request.
public struct DiskUsers: Sendable {
    public struct Machine: Sendable {
        public var namespace: String
        public var name: String
        /// PVC or DataVolume names its volumes use, in its namespace.
        public var disks: [String]
        public var secrets: [String]
    }

    public var machines: [Machine]

    public static func read(_ kube: KubeHTTPClient) async throws -> DiskUsers {
        let response = try await kube.send("GET", "/apis/kubevirt.io/v1/virtualmachines")
        if response.status == 404 { return DiskUsers(machines: []) }  // KubeVirt not installed: no VM uses anything
        guard response.status == 200, let items = response.json?["items"] as? [[String: Any]] else {
            throw KubeError.status(response, doing: "listing VirtualMachines")
        }
        return DiskUsers(machines: items.compactMap { item in
            let meta = item["metadata"] as? [String: Any] ?? [:]
            guard let namespace = meta["namespace"] as? String, let name = meta["name"] as? String else { return nil }
            let template = ((item["spec"] as? [String: Any])?["template"] as? [String: Any])?["spec"] as? [String: Any] ?? [:]
            let volumes = template["volumes"] as? [[String: Any]] ?? []
            var disks: [String] = [], secrets: [String] = []
            for volume in volumes {
                if let claim = (volume["persistentVolumeClaim"] as? [String: Any])?["claimName"] as? String { disks.append(claim) }
                if let dv = (volume["dataVolume"] as? [String: Any])?["name"] as? String { disks.append(dv) }
                for key in ["cloudInitNoCloud", "cloudInitConfigDrive"] {
                    let source = volume[key] as? [String: Any] ?? [:]
                    for ref in ["userDataSecretRef", "networkDataSecretRef"] {
                        if let secret = (source[ref] as? [String: Any])?["name"] as? String { secrets.append(secret) }
                    }
                }
            }
            return Machine(namespace: namespace, name: name, disks: disks, secrets: secrets)
        })
    }

    /// The VMs (`namespace/name`) using a disk, other than `except`.
    public func users(ofDisk name: String, namespace: String, except: Set<String> = []) -> [String] {
        machines.filter { $0.namespace == namespace && $0.disks.contains(name) && !except.contains("\($0.namespace)/\($0.name)") }
            .map { "\($0.namespace)/\($0.name)" }
    }

    public func machine(_ namespace: String, _ name: String) -> Machine? {
        machines.first { $0.namespace == namespace && $0.name == name }
    }
}

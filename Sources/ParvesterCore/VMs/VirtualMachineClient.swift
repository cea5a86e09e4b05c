import Foundation
import Kube

/// KubeVirt's VirtualMachines through the Kubernetes API: listing, and start, stop and restart through
/// virt-api's subresources (what `virtctl start|stop|restart` call), with waits that name the VM and
/// what it last showed.
public struct VirtualMachineClient: Sendable {
    public let client: KubeHTTPClient

    public init(client: KubeHTTPClient) { self.client = client }

    public enum Action: String, Sendable, CaseIterable { case start, stop, restart }

    public struct Summary: Sendable, Encodable {
        public var namespace: String
        public var name: String
        /// KubeVirt's printableStatus: Running, Stopped, Starting, Provisioning, ...
        public var status: String
        public var ready: Bool
        /// The running instance's phase and addresses, when there is one.
        public var instancePhase: String?
        public var addresses: [String]
    }

    private static func path(_ namespace: String, _ name: String? = nil) -> String {
        "/apis/kubevirt.io/v1/namespaces/\(namespace)/virtualmachines" + (name.map { "/\($0)" } ?? "")
    }

    /// VMs in `namespace`, or in every namespace when nil, sorted by namespace and name.
    public func list(namespace: String?) async throws -> [Summary] {
        let path = namespace.map { Self.path($0) } ?? "/apis/kubevirt.io/v1/virtualmachines"
        let response = try await client.send("GET", path)
        if response.status == 404 { throw KubeError(.api, "KubeVirt is not installed on this cluster (no VirtualMachine API)", status: 404) }
        guard response.status == 200 else { throw KubeError.status(response, doing: "listing VirtualMachines") }
        let instances = try await instancesByName(namespace: namespace)
        return ((response.json?["items"] as? [[String: Any]]) ?? []).map { item in
            let meta = item["metadata"] as? [String: Any] ?? [:]
            let status = item["status"] as? [String: Any] ?? [:]
            let ns = meta["namespace"] as? String ?? "", name = meta["name"] as? String ?? ""
            let instance = instances["\(ns)/\(name)"]
            return Summary(namespace: ns, name: name, status: status["printableStatus"] as? String ?? "Unknown",
                           ready: status["ready"] as? Bool ?? false, instancePhase: instance?.phase, addresses: instance?.addresses ?? [])
        }.sorted { ($0.namespace, $0.name) < ($1.namespace, $1.name) }
    }

    private func instancesByName(namespace: String?) async throws -> [String: (phase: String?, addresses: [String])] {
        let path = namespace.map { "/apis/kubevirt.io/v1/namespaces/\($0)/virtualmachineinstances" } ?? "/apis/kubevirt.io/v1/virtualmachineinstances"
        let response = try await client.send("GET", path)
        guard response.status == 200 else { return [:] }
        var result: [String: (phase: String?, addresses: [String])] = [:]
        for item in (response.json?["items"] as? [[String: Any]]) ?? [] {
            let meta = item["metadata"] as? [String: Any] ?? [:]
            let status = item["status"] as? [String: Any] ?? [:]
            let addresses = ((status["interfaces"] as? [[String: Any]]) ?? []).compactMap { $0["ipAddress"] as? String }
            result["\(meta["namespace"] as? String ?? "")/\(meta["name"] as? String ?? "")"] = (status["phase"] as? String, addresses)
        }
        return result
    }

    /// The running instance's uid and phase, nil when there is none.
    func instance(namespace: String, name: String) async throws -> (uid: String, phase: String?)? {
        let response = try await client.send("GET", "/apis/kubevirt.io/v1/namespaces/\(namespace)/virtualmachineinstances/\(name)")
        guard response.status == 200, let json = response.json else { return nil }
        let meta = json["metadata"] as? [String: Any] ?? [:]
        return (meta["uid"] as? String ?? "", (json["status"] as? [String: Any])?["phase"] as? String)
    }

    /// What the VM shows now, for messages: `printableStatus` and the instance's phase.
    func shown(namespace: String, name: String) async -> String {
        let response = try? await client.send("GET", Self.path(namespace, name))
        guard let response, response.status == 200 else { return response?.status == 404 ? "the VM does not exist" : "unknown" }
        let status = response.json?["status"] as? [String: Any] ?? [:]
        let instance = try? await instance(namespace: namespace, name: name)
        return "status \(status["printableStatus"] as? String ?? "none")" + (instance.map { ", instance \($0.phase ?? "pending")" } ?? ", no instance")
    }

    /// `start`, `stop` or `restart` through virt-api; then waits until the VM is Running (start, restart:
    /// a new instance) or has no instance (stop). A VM already in that state is an error KubeVirt names.
    public func perform(_ action: Action, namespace: String, name: String, timeout: TimeInterval) async throws {
        let before = try await instance(namespace: namespace, name: name)
        let response = try await client.send("PUT", "/apis/subresources.kubevirt.io/v1/namespaces/\(namespace)/virtualmachines/\(name)/\(action.rawValue)",
                                             body: Data("{}".utf8))
        guard (200..<300).contains(response.status) else {
            throw KubeError.status(response, doing: "\(action.rawValue) VM \(namespace)/\(name)")
        }
        switch action {
        case .start: try await waitRunning(namespace: namespace, name: name, timeout: timeout)
        case .stop: try await waitStopped(namespace: namespace, name: name, timeout: timeout)
        case .restart: try await waitRunning(namespace: namespace, name: name, timeout: timeout, replacing: before?.uid)
        }
    }

    public func delete(namespace: String, name: String) async throws {
        let response = try await client.send("DELETE", Self.path(namespace, name))
        guard (200..<300).contains(response.status) else { throw KubeError.status(response, doing: "deleting VM \(namespace)/\(name)") }
    }

    /// Until the VM's instance is Running (and, with `replacing`, is not that old instance).
    public func waitRunning(namespace: String, name: String, timeout: TimeInterval, replacing old: String? = nil) async throws {
        try await poll("VM \(namespace)/\(name) to be Running", namespace: namespace, name: name, timeout: timeout) {
            guard let instance = try await instance(namespace: namespace, name: name) else { return false }
            return instance.phase == "Running" && instance.uid != old
        }
    }

    /// Until the VM object is gone (KubeVirt's finalizer removes its instance first).
    public func waitGone(namespace: String, name: String, timeout: TimeInterval) async throws {
        try await poll("VM \(namespace)/\(name) to be deleted", namespace: namespace, name: name, timeout: timeout) {
            try await client.send("GET", Self.path(namespace, name)).status == 404
        }
    }

    public func waitStopped(namespace: String, name: String, timeout: TimeInterval) async throws {
        try await poll("VM \(namespace)/\(name) to stop", namespace: namespace, name: name, timeout: timeout) {
            try await instance(namespace: namespace, name: name) == nil
        }
    }

    private func poll(_ what: String, namespace: String, name: String, timeout: TimeInterval, _ done: () async throws -> Bool) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while !(try await done()) {
            guard Date() < deadline else {
                throw KubeError(.timeout, "timed out after \(Int(timeout)) s waiting for \(what); last seen: \(await shown(namespace: namespace, name: name))")
            }
            try await Task.sleep(for: .milliseconds(500))
        }
    }
}

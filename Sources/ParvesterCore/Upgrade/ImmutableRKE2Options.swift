import YAML

/// RKE2 options a running cluster cannot take a new value for. K3s, which RKE2 is built on, calls most of
/// them "critical control args" and refuses a server whose values differ from the cluster's ("critical
/// configuration value mismatch"); RKE2 itself does not check them yet (rancher/rke2#5165), so a roll
/// that changes one leaves servers that disagree, or a cluster whose pods and services keep addresses
/// from the old value. Parvester refuses such a change before writing anything.
enum ImmutableRKE2Options {
    static let reasons: [String: String] = [
        "cluster-cidr": "pods keep addresses from it and every server must hold the same value; it is fixed when the cluster is created",
        "service-cidr": "Services keep their cluster IPs from it and every server must hold the same value; it is fixed when the cluster is created",
        "cluster-dns": "every pod's resolv.conf and the DNS Service's cluster IP use it; it is fixed when the cluster is created",
        "cluster-domain": "Service names and certificates use it; it is fixed when the cluster is created",
        "cni": "the pod network is installed once, when the cluster is created; another CNI needs a new cluster (adding or removing multus, which chains to it, is fine)",
        "disable-kube-proxy": "every server must hold the same value, and Services stop working while they differ",
        "egress-selector-mode": "every server must hold the same value",
        "service-node-port-range": "every server must hold the same value, and NodePorts already given keep theirs",
        "data-dir": "RKE2 would start from an empty directory, as a new node without the cluster's data",
    ]

    /// One message per option whose value differs between the node's current file and the new one.
    static func changes(current: String, next: String, file: String) -> [String] {
        let old = values(current), new = values(next)
        return reasons.keys.sorted().compactMap { key in
            guard old[key] != new[key] else { return nil }
            let from = old[key].map { "\($0.quoted)" } ?? "unset", to = new[key].map { "\($0.quoted)" } ?? "unset"
            return "\(key) would change from \(from) to \(to) in \(file): refused, because \(reasons[key]!)"
        }
    }

    /// Top-level values as comparable text: a list and a comma-separated string of the same items are equal.
    static func values(_ text: String) -> [String: String] {
        guard let root = try? YAMLParser.parse(text), let pairs = root.mapping else { return [:] }
        var result: [String: String] = [:]
        for pair in pairs {
            guard let key = pair.key.scalar?.value, reasons[key] != nil else { continue }
            var items = (pair.value.sequence ?? [pair.value]).compactMap(\.scalar?.value)
                .flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            // Multus is a meta-plugin in front of the pod network: it comes and goes (RKE2's packaged Multus).
            if key == "cni" { items.removeAll { $0 == "multus" } }
            result[key] = items.joined(separator: ",")
        }
        // RKE2's default CNI, written or not.
        if result["cni"] == nil || result["cni"] == "" { result["cni"] = "canal" }
        return result
    }
}

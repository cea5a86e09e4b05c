import Foundation

/// What the host checks find in the facts gathered from every node: per node (its firewall, disk,
/// kernel, ...) and across nodes (host names, clocks). Pure: `validate-hosts` decides what a finding
/// does (`Cluster.level`), and `PortCheckPhase` tries the ports.
enum HostChecks {
    /// RKE2's CIS profile refuses to start unless these are set (RKE2 ships them in
    /// share/rke2/rke2-cis-sysctl.conf).
    static let cisSysctls = ["vm.panic_on_oom": "0", "vm.overcommit_memory": "1", "kernel.panic": "10", "kernel.panic_on_oops": "1"]
    /// RKE2's known issue with NetworkManager: it must leave the CNI's interfaces alone.
    static let networkManagerConf = "/etc/NetworkManager/conf.d/rke2-canal.conf"

    static func findings(_ node: Node, _ facts: NodeFacts, _ cluster: Cluster) -> [HostFinding] {
        var found: [HostFinding] = []
        if facts.isActive("firewalld") {
            found.append(HostFinding(.firewall, "firewalld is running; RKE2's docs say it conflicts with canal's networking",
                                     fix: "systemctl disable --now firewalld (or open RKE2's ports with firewall-cmd --permanent --add-port and firewall-cmd --reload)"))
        }
        if facts.isActive("ufw") {
            found.append(HostFinding(.firewall, "ufw is enabled and filters RKE2's ports",
                                     fix: "ufw disable, or ufw allow 6443,9345,10250,2379:2380/tcp && ufw allow 8472/udp"))
        }
        if facts.isActive("NetworkManager") {
            let ignored = facts.networkManagerUnmanaged.joined(separator: ";")
            if !(ignored.contains("interface-name:cali") && ignored.contains("interface-name:flannel")) {
                found.append(HostFinding(.networkManager, "NetworkManager manages every interface, so it interferes with the CNI's cali* and flannel* interfaces",
                                         fix: "printf '[keyfile]\\nunmanaged-devices=interface-name:cali*;interface-name:flannel*\\n' > \(networkManagerConf) && systemctl reload NetworkManager"))
            }
        }
        if let disk = facts.diskFree, let free = disk.bytes, free < cluster.minFreeDisk {
            found.append(HostFinding(.disk, "only \(gib(free)) free under \(disk.path) (RKE2's images and etcd need at least \(gib(cluster.minFreeDisk)))",
                                     fix: "free space under \(disk.path) or mount a larger disk at /var/lib/rancher; cluster.minFreeDisk sets the minimum"))
        }
        for module in ["br_netfilter", "overlay"] where facts.modules[module] == "missing" {
            found.append(HostFinding(.kernelModules, "the kernel module \(module) is neither loaded nor installed (RKE2 loads it at start)",
                                     fix: "install the running kernel's modules (apt install linux-image-$(uname -r)), then modprobe \(module)"))
        }
        if cisProfile(cluster) {
            let wrong = cisSysctls.sorted { $0.key < $1.key }.filter { facts.sysctls[$0.key] != $0.value }
            if !wrong.isEmpty {
                let list = wrong.map { "\($0.key)=\(facts.sysctls[$0.key] ?? "unset") (needs \($0.value))" }.joined(separator: ", ")
                found.append(HostFinding(.sysctls, "RKE2's CIS profile will not start with \(list)",
                                         fix: "printf '\(wrong.map { "\($0.key)=\($0.value)" }.joined(separator: "\\n"))\\n' > /etc/sysctl.d/60-rke2-cis.conf && sysctl --system"))
            }
        }
        if let swaps = facts.swapDevices, swaps > 0 {
            found.append(HostFinding(.swap, "swap is on (\(swaps) device\(swaps == 1 ? "" : "s")); RKE2 runs the kubelet with --fail-swap-on=false, but pods' and VMs' memory may be swapped out",
                                     fix: "swapoff -a and remove the swap line from /etc/fstab"))
        }
        if facts.cgroupVersion == 1 {
            found.append(HostFinding(.cgroup, "only cgroup v1 is mounted (Kubernetes 1.31 put it in maintenance; from 1.35 the kubelet refuses it)",
                                     fix: "boot with cgroup v2: add systemd.unified_cgroup_hierarchy=1 to GRUB_CMDLINE_LINUX in /etc/default/grub, update-grub, reboot"))
        }
        return found
    }

    /// Findings that take every node's facts: the same host name twice, a clock away from the others.
    static func acrossNodes(_ facts: [(node: Node, facts: NodeFacts)], maximumSkew: Double = HostCheck.maximumClockSkew) -> [String: [HostFinding]] {
        var found: [String: [HostFinding]] = [:]
        let byName = Dictionary(grouping: facts.filter { $0.facts.hostname?.isEmpty == false }) { $0.facts.hostname! }
        for (hostname, holders) in byName where holders.count > 1 {
            let names = holders.map(\.node.name)
            for holder in holders {
                let others = names.filter { $0 != holder.node.name }.joined(separator: ", ")
                found[holder.node.name, default: []].append(HostFinding(.hostname, "its host name \(hostname) is also \(others)'s",
                                                                      fix: "hostnamectl set-hostname \(holder.node.name)"))
            }
        }
        let clocks = facts.compactMap { entry in entry.facts.clockOffset.map { (entry.node.name, $0, entry.facts.clockUncertainty) } }
        if clocks.count > 1 {
            func median(_ values: [Double]) -> Double {
                let sorted = values.sorted()
                return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
            }
            // Each offset is known within half its round trip; the median's within a typical node's.
            let middle = median(clocks.map(\.1)), typical = median(clocks.map(\.2))
            for (name, offset, uncertainty) in clocks where abs(offset - middle) - uncertainty - typical > maximumSkew {
                found[name, default: []].append(HostFinding(.clock, String(format: "its clock is %.1f s %@ the other nodes' (etcd and certificates need them within %.0f s)",
                                                                          abs(offset - middle), offset > middle ? "ahead of" : "behind", maximumSkew),
                                                            fix: "turn on time sync: timedatectl set-ntp true (systemd-timesyncd or chrony)"))
            }
        }
        return found
    }

    static func cisProfile(_ cluster: Cluster) -> Bool {
        cluster.rke2Config.contains { $0.key.scalar?.value == "profile" && ($0.value.scalar?.value ?? "").hasPrefix("cis") }
    }

    /// The level a finding has: the inventory's, else the check's default. cgroup v1 fails by default only
    /// where the kubelet refuses it (Kubernetes 1.35 and later).
    static func level(_ check: HostCheck, _ cluster: Cluster) -> CheckLevel {
        if let level = cluster.hostCheckLevels[check] { return level }
        if check == .cgroup {
            let minor = RKE2Version(cluster.version).map(\.minor) ?? 0
            return minor >= 35 ? .fail : .warn
        }
        return check.defaultLevel
    }

    static func gib(_ bytes: Int64) -> String { String(format: "%.1f GiB", Double(bytes) / Double(1 << 30)) }
}

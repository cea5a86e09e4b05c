import Foundation
import SSH

/// The one command that gathers a node's facts, and the parser of its output.
///
/// The script is cheap on the node: every run starts with it, on every node at once. It uses shell
/// builtins where it can (links from /sys/class/net, leftovers by glob) and starts one process per tool,
/// not per interface, file or unit: `systemctl` once for all units, `sha256sum` once for all files,
/// `ip` once for addresses, and hands their raw output back in sections for this side to parse. Keyed lines are `key<TAB>value`,
/// so that nothing a node reports can be mistaken for another key.
enum FactsProbe {
    static let units = ["rke2-server", "rke2-agent"]
    /// Services whose state the host checks read (firewalls RKE2's docs say to disable, and NetworkManager).
    static let hostUnits = ["firewalld", "ufw", "NetworkManager", "systemd-networkd", NetworkTransaction.timerUnit + ".timer"]

    /// Units are enabled through their `WantedBy=` target (RKE2's and the bridge unit both have one), so
    /// enablement is read from the `*.wants/` links with globs, not with `systemctl is-enabled`.
    /// Also removes what an interrupted upload may have left: `.NAME.parvester-*` next to managed files (a
    /// run holding the lock is the only writer), and the login user's sudo staging files in /tmp older
    /// than a minute, in one `find`.
    static func command(managedFiles: [String], units: [String], cleanUp: Bool = true, readToken: Bool = false) -> String {
        let files = managedFiles.map(ShellQuote.quote).joined(separator: " ")
        let directories = Set(managedFiles.map { String($0[..<($0.lastIndex(of: "/") ?? $0.endIndex)]) }).sorted().map(ShellQuote.quote).joined(separator: " ")
        let unitList = units.map(ShellQuote.quote).joined(separator: " ")
        // Globs, so that nothing is started unless something is left over.
        let cleaning = """
            for x in \(directories); do for f in "$x"/.*.parvester-*; do [ -f "$f" ] && rm -f -- "$f"; done; done
            u=${SUDO_USER:-${USER:-root}}; for f in /tmp/.parvester-upload-*; do [ -f "$f" ] && find "$f" -maxdepth 0 -user "$u" -mmin +1 -delete 2>/dev/null; done
            """
        return """
            t='\t'
            \(cleanUp ? cleaning : ":")
            . /etc/os-release 2>/dev/null; echo "os${t}${ID:-unknown} ${VERSION_ID:-}"
            if [ -r /proc/sys/kernel/arch ]; then read -r a < /proc/sys/kernel/arch; else a=$(uname -m); fi; echo "arch${t}$a"
            \(rke2Version(remember: cleanUp))
            set -- \(unitList)
            echo "units${t}$*"
            s=$(systemctl is-active "$@" 2>/dev/null); echo "states${t}"$s
            for u in "$@"; do
              e=disabled; for w in /etc/systemd/system/*.wants/"${u%.service}.service"; do [ -L "$w" ] && e=enabled; done
              echo "enabled${t}$u $e"
            done
            set --; for f in \(files); do [ -f "$f" ] && set -- "$@" "$f"; done
            [ -s \(TokenResolver.nodeTokenPath) ] && echo "token${t}present"
            [ -e \(NodeFacts.agentJoinedPath) ] && echo "agentjoined${t}yes"
            \(readToken ? "[ -s \(TokenResolver.nodeTokenPath) ] && { read -r tv < \(TokenResolver.nodeTokenPath); echo \"tokenvalue${t}$tv\"; }" : ":")
            for d in /sys/class/net/*; do
              n=${d##*/}; f=0; read -r f < "$d/flags" 2>/dev/null; b=no; [ -d "$d/bridge" ] && b=yes; m=-; read -r m < "$d/address" 2>/dev/null
              echo "link${t}$n $(( f & 1 )) $b $m"
              if [ $b = yes ]; then for p in "$d"/brif/*; do [ -e "$p" ] && echo "port${t}$n ${p##*/}"; done; fi
            done
            \(hostChecks)
            \(networkConfiguration)
            echo "section${t}hashes"; [ $# -gt 0 ] && sha256sum -- "$@" 2>/dev/null
            echo "section${t}addrs"; ip -o addr show 2>/dev/null
            echo "section${t}vhv"; if command -v virt-host-validate >/dev/null 2>&1; then virt-host-validate qemu 2>&1; else echo "-absent-"; fi
            true
            """
    }

    /// What the host checks read (see `HostChecks`), with builtins where they can: the host name, the clock
    /// (compared with this machine's around the round trip), free space where RKE2 keeps its data (the
    /// nearest existing directory), the kernel modules RKE2 loads (loaded, or in the module index), the
    /// sysctls RKE2's CIS profile requires, swap devices, the cgroup version, and NetworkManager's unmanaged
    /// devices. (nftables' rules are read by the port check, only when it runs.)
    static let hostChecks = """
        read -r h < /proc/sys/kernel/hostname; echo "hostname${t}$h"
        echo "clock${t}${EPOCHREALTIME:-$(date +%s.%N)}"
        d=/var/lib/rancher; while [ ! -d "$d" ]; do d=${d%/*}; [ -n "$d" ] || d=/; done
        df -Pk "$d" 2>/dev/null | { read -r x; read -r x x x f x; echo "diskfree${t}$d ${f:-}"; }
        read -r r < /proc/sys/kernel/osrelease
        for m in br_netfilter overlay; do
          s=missing; if [ -d /sys/module/$m ]; then s=loaded; elif grep -qs "/$m.ko" /lib/modules/$r/modules.dep /lib/modules/$r/modules.builtin; then s=available; fi
          echo "module${t}$m $s"
        done
        for k in vm/panic_on_oom vm/overcommit_memory kernel/panic kernel/panic_on_oops; do [ -r /proc/sys/$k ] && { read -r v < /proc/sys/$k; echo "sysctl${t}$k $v"; }; done
        n=-1; while read -r x; do n=$((n+1)); done < /proc/swaps 2>/dev/null; echo "swap${t}$n"
        if [ -f /sys/fs/cgroup/cgroup.controllers ]; then echo "cgroup${t}2"; else echo "cgroup${t}1"; fi
        for f in /etc/NetworkManager/NetworkManager.conf /etc/NetworkManager/conf.d/*.conf; do
          [ -f "$f" ] && while IFS= read -r l; do case $l in unmanaged-devices=*) echo "nmunmanaged${t}${l#*=}";; esac; done < "$f"
        done
        """

    /// What owns each interface's configuration (see `NetworkStack`): the files of netplan, ifupdown and
    /// systemd-networkd, line by line (small files, read with builtins), NetworkManager's devices when it
    /// runs, and a network change Parvester left armed for rollback.
    static let networkConfiguration = """
        for f in /etc/netplan/*.yaml /etc/netplan/*.yml /etc/network/interfaces /etc/network/interfaces.d/* /etc/systemd/network/*.network /etc/systemd/network/*.netdev; do
          [ -f "$f" ] || continue; echo "netfile${t}$f"
          while IFS= read -r l || [ -n "$l" ]; do echo "netline${t}$l"; done < "$f"
        done
        [ -d /run/NetworkManager ] && command -v nmcli >/dev/null 2>&1 && nmcli -t -f DEVICE,STATE,CONNECTION device 2>/dev/null | while IFS= read -r l; do echo "nmdevice${t}$l"; done
        [ -f \(NetworkTransaction.directory)/pending ] && { read -r p < \(NetworkTransaction.directory)/pending; echo "netpending${t}$p"; }
        [ -x /etc/network/if-pre-up.d/bridge ] && echo "ifupdownbridge${t}yes"
        """

    /// Run as the login user before the (sudo) script: the session's own addresses.
    static let sessionPreamble = "printf 'ssh\\t%s\\n' \"$SSH_CONNECTION\""

    /// Where the probe remembers `rke2 --version` (a Go binary of 100+ MB that costs tens of
    /// milliseconds of CPU on every run), keyed by the binary's device, inode, mtime and size: a new
    /// binary from an install or upgrade always has a new inode, so the key never matches a stale answer.
    static let rke2VersionCache = "/var/lib/parvester/rke2-version"

    /// The RKE2 binary's version, from the cache when the binary is the one it describes. Installs put it in
    /// /usr/local/bin (tarball), /opt/rke2/bin (read-only /usr/local) or /usr/bin (RPM). A dry run reads
    /// the cache but never writes it.
    static func rke2Version(remember: Bool) -> String {
        """
        v=; for b in /usr/local/bin/rke2 /opt/rke2/bin/rke2 /usr/bin/rke2; do [ -x "$b" ] && break; b=; done
        if [ -n "$b" ]; then
          k=$(stat -L -c '%n %d %i %Y %s' "$b" 2>/dev/null); ck=; cv=
          [ -f \(rke2VersionCache) ] && { read -r ck; read -r cv; } < \(rke2VersionCache)
          if [ -n "$k" ] && [ "$k" = "$ck" ]; then v=$cv; else
            set -- $("$b" --version 2>/dev/null); v=${3:-}
            \(remember ? "[ -n \"$v\" ] && { [ -d /var/lib/parvester ] || mkdir -p /var/lib/parvester; printf '%s\\n%s\\n' \"$k\" \"$v\" > \(rke2VersionCache); }" : ":")
          fi
        fi
        echo "rke2${t}$v"
        """
    }

    static func parse(_ output: String) -> NodeFacts {
        var facts = NodeFacts()
        var validate: [String] = []
        var hasValidate = true
        var section = ""
        var units: [String] = []
        for line in output.split(separator: "\n").map(String.init) {
            let parts = line.split(separator: "\t", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            if parts.count == 2, parts[0] == "section" {
                section = parts[1]
                continue
            }
            switch section {
            case "hashes": parseHash(line, into: &facts)
            case "addrs": parseAddress(line, into: &facts)
            case "vhv": if line == "-absent-" { hasValidate = false } else { validate.append(line) }
            default:
                guard parts.count == 2 else { continue }
                parseKeyed(parts[0], parts[1], units: &units, into: &facts)
            }
        }
        facts.virtHostValidate = hasValidate ? validate : nil
        return facts
    }

    private static func parseKeyed(_ key: String, _ value: String, units: inout [String], into facts: inout NodeFacts) {
        let fields = value.split(separator: " ").map(String.init)
        switch key {
        case "os": facts.os = value.trimmingCharacters(in: .whitespaces)
        case "arch": facts.arch = value
        case "rke2": facts.rke2Version = value.isEmpty ? nil : value
        case "units": units = fields
        // `systemctl is-active` answers one line per unit, in order; a missing answer is unknown.
        case "states": for (i, unit) in units.enumerated() { facts.active[unit] = i < fields.count ? fields[i] : "unknown" }
        case "enabled" where fields.count >= 1: facts.enabled[fields[0]] = fields.count > 1 ? fields[1] : "unknown"
        case "token": facts.hasNodeToken = true
        case "agentjoined": facts.agentJoined = true
        // Read from stdout (never a command line); masked from every output once known.
        case "tokenvalue" where !value.isEmpty: facts.nodeToken = Secret(value)
        // SSH_CONNECTION: client address, client port, server address, server port.
        case "hostname": facts.hostname = value
        case "clock": facts.clock = Double(value)
        case "diskfree" where fields.count == 2: facts.diskFree = (fields[0], Int64(fields[1]).map { $0 * 1024 })
        case "module" where fields.count == 2: facts.modules[fields[0]] = fields[1]
        case "sysctl" where fields.count == 2: facts.sysctls[fields[0].replacingOccurrences(of: "/", with: ".")] = fields[1]
        case "swap": facts.swapDevices = Int(value)
        case "cgroup": facts.cgroupVersion = Int(value)
        case "nmunmanaged": facts.networkManagerUnmanaged.append(value)
        case "ssh": facts.sshAddress = fields.count >= 3 ? fields[2] : nil
        // From /sys/class/net: name, IFF_UP (the flags' lowest bit), whether it is a bridge.
        case "link" where fields.count >= 3:
            facts.links[fields[0]] = NodeFacts.Link(name: fields[0], up: fields[1] == "1", master: facts.links[fields[0]]?.master,
                                                    isBridge: fields[2] == "yes", addresses: facts.links[fields[0]]?.addresses ?? [])
            if fields.count >= 4, fields[3] != "-" { facts.macAddresses[fields[0]] = fields[3] }
        case "netfile":
            facts.networkFiles.append((path: value, content: ""))
        case "netline" where !facts.networkFiles.isEmpty:
            facts.networkFiles[facts.networkFiles.count - 1].content += value + "\n"
        case "nmdevice":
            // nmcli -t: DEVICE:STATE:CONNECTION, with ':' in values escaped as '\:'.
            let parts = value.replacingOccurrences(of: "\\:", with: "\u{1}").split(separator: ":", omittingEmptySubsequences: false)
                .map { $0.replacingOccurrences(of: "\u{1}", with: ":") }
            if parts.count >= 3 { facts.networkManagerDevices[parts[0]] = (state: parts[1], connection: parts[2]) }
        case "netpending": facts.networkPending = value
        case "ifupdownbridge": facts.ifupdownBridgeSupport = true
        case "port" where fields.count == 2:
            facts.links[fields[1], default: NodeFacts.Link(name: fields[1], up: false, master: nil, isBridge: false, addresses: [])].master = fields[0]
        default: break
        }
    }

    /// `sha256sum` lines: 64 hex digits, two spaces (or space and `*`), the path.
    private static func parseHash(_ line: String, into facts: inout NodeFacts) {
        guard line.utf8.count > 66 else { return }
        let hash = String(line.prefix(64))
        guard hash.allSatisfy(\.isHexDigit) else { return }
        facts.fileHashes[String(line.dropFirst(66))] = hash
    }

    /// `ip -o addr show`: `2: eth0    inet 10.251.0.11/16 brd ... scope global eth0\ ...`.
    private static func parseAddress(_ line: String, into facts: inout NodeFacts) {
        let words = line.split(separator: " ").map(String.init)
        guard words.count >= 4, words[2] == "inet" || words[2] == "inet6" else { return }
        let link = words[1].split(separator: "@").first.map(String.init) ?? words[1]
        addAddress(String(words[3].split(separator: "/").first ?? ""), to: link, in: &facts)
    }

    private static func addAddress(_ address: String, to link: String, in facts: inout NodeFacts) {
        facts.links[link, default: NodeFacts.Link(name: link, up: false, master: nil, isBridge: false, addresses: [])].addresses.append(address)
    }
}

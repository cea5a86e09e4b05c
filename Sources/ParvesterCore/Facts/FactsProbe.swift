import SSH

/// The one command that gathers a node's facts, and the parser of its output. Lines are `key<TAB>value`,
/// so that nothing a node reports can be mistaken for another key.
enum FactsProbe {
    static let units = ["rke2-server", "rke2-agent"]

    /// Units are enabled through their `WantedBy=` target (RKE2's and the bridge unit both have one), so
    /// enablement is read from the `*.wants/` links: one `systemctl` call for all units instead of two each.
    /// Also removes what an interrupted upload may have left: `.NAME.parvester-*` next to managed files (a
    /// run holding the lock is the only writer), and the login user's sudo staging files in /tmp older
    /// than a minute.
    static func command(managedFiles: [String], units: [String], cleanUp: Bool = true) -> String {
        let files = managedFiles.map(ShellQuote.quote).joined(separator: " ")
        let directories = Set(managedFiles.map { String($0[..<($0.lastIndex(of: "/") ?? $0.endIndex)]) }).sorted().map(ShellQuote.quote).joined(separator: " ")
        let unitList = units.map(ShellQuote.quote).joined(separator: " ")
        return """
            t=$(printf '\\t')
            \(cleanUp ? "for d in \(directories); do [ -d \"$d\" ] && find \"$d\" -maxdepth 1 -name '.*.parvester-*' -type f -delete 2>/dev/null; done" : ":")
            \(cleanUp ? "find /tmp -maxdepth 1 -name '.parvester-upload-*' -type f -user \"${SUDO_USER:-$(id -un)}\" -mmin +1 -delete 2>/dev/null" : ":")
            . /etc/os-release 2>/dev/null; echo "os${t}${ID:-unknown} ${VERSION_ID:-}"
            echo "arch${t}$(uname -m)"
            v=$(PATH=/usr/local/bin:/usr/bin:/bin:$PATH rke2 --version 2>/dev/null | head -n 1 | awk '{print $3}'); echo "rke2${t}$v"
            set -- \(unitList)
            systemctl is-active "$@" 2>/dev/null | for u in "$@"; do read -r s; echo "active${t}$u ${s:-unknown}"; done
            for u in "$@"; do
              e=disabled; for w in /etc/systemd/system/*.wants/"${u%.service}.service"; do [ -L "$w" ] && e=enabled; done
              echo "enabled${t}$u $e"
            done
            for f in \(files); do [ -f "$f" ] && echo "hash${t}$f $(sha256sum "$f" | cut -d' ' -f1)"; done
            [ -s /var/lib/rancher/rke2/server/node-token ] && echo "token${t}present"
            ip -o link show 2>/dev/null | while read -r _ name rest; do
              name=${name%:}; name=${name%@*}
              state=down; case "$rest" in *"<"*UP*">"*|*",UP,"*|*"<UP,"*) state=up;; esac
              master=$(echo "$rest" | sed -n 's/.* master \\([^ ]*\\).*/\\1/p')
              bridge=no; [ -d "/sys/class/net/$name/bridge" ] && bridge=yes
              echo "link${t}$name $state $bridge ${master:--}"
            done
            ip -o addr show 2>/dev/null | awk -v t="$t" '{split($4, a, "/"); print "addr" t $2 " " a[1]}'
            if command -v virt-host-validate >/dev/null 2>&1; then virt-host-validate qemu 2>&1 | sed "s/^/vhv${t}/"; else echo "vhv${t}-absent-"; fi
            true
            """
    }

    static func parse(_ output: String) -> NodeFacts {
        var facts = NodeFacts()
        var validate: [String] = []
        var hasValidate = true
        for line in output.split(separator: "\n") {
            let parts = line.split(separator: "\t", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { continue }
            let (key, value) = (parts[0], parts[1])
            let fields = value.split(separator: " ").map(String.init)
            switch key {
            case "os": facts.os = value.trimmingCharacters(in: .whitespaces)
            case "arch": facts.arch = value
            case "rke2": facts.rke2Version = value.isEmpty ? nil : value
            case "active" where fields.count >= 1: facts.active[fields[0]] = fields.count > 1 ? fields[1] : "unknown"
            case "enabled" where fields.count >= 1: facts.enabled[fields[0]] = fields.count > 1 ? fields[1] : "unknown"
            case "hash" where fields.count == 2: facts.fileHashes[fields[0]] = fields[1]
            case "token": facts.hasNodeToken = true
            case "link" where fields.count == 4:
                facts.links[fields[0]] = NodeFacts.Link(name: fields[0], up: fields[1] == "up", master: fields[3] == "-" ? nil : fields[3],
                                                        isBridge: fields[2] == "yes", addresses: facts.links[fields[0]]?.addresses ?? [])
            case "addr" where fields.count == 2:
                facts.links[fields[0], default: NodeFacts.Link(name: fields[0], up: false, master: nil, isBridge: false, addresses: [])]
                    .addresses.append(fields[1])
            case "vhv":
                if value == "-absent-" { hasValidate = false } else { validate.append(value) }
            default: break
            }
        }
        facts.virtHostValidate = hasValidate ? validate : nil
        return facts
    }
}

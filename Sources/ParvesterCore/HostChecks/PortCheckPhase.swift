import Foundation
import SSH

/// RKE2's ports between nodes, tried from node to node before a node joins (a firewall between the
/// nodes, or on one of them, shows here and not as a join that hangs). Three rounds, each one command
/// per node, all nodes at once:
///   1. every node listens on its role's ports that are free (a short-lived listener that ends by itself);
///   2. every node connects to the others' TCP ports and sends datagrams to their UDP ports;
///   3. every node says which datagrams arrived, and its listener stops.
/// A port already in use (RKE2 running) is tried as it is for TCP; its UDP (the VXLAN device) cannot be.
/// Runs only while some node has not joined the cluster yet: a cluster whose nodes all joined has shown
/// its ports work. The listener and the prober are Perl, which every Debian, RHEL and SUSE has
/// (perl-base is essential on Debian); bash's /dev/tcp would take a process per port.
struct PortCheckPhase: ReadOnlyPhase {
    let id = "check-ports"
    let title = "RKE2's ports between nodes"

    struct Port: Hashable, Comparable, CustomStringConvertible {
        var number: Int
        var proto: String
        var description: String { "\(number)/\(proto)" }
        static func < (a: Port, b: Port) -> Bool { (a.number, a.proto) < (b.number, b.proto) }
    }

    /// RKE2's inbound rules (docs.rke2.io, requirements): the supervisor and API on servers, etcd between
    /// servers, the kubelet everywhere, and canal's VXLAN everywhere.
    static func ports(of node: Node) -> [Port] {
        let all = [Port(number: 10250, proto: "tcp"), Port(number: 8472, proto: "udp")]
        return node.role == .server ? [Port(number: 9345, proto: "tcp"), Port(number: 6443, proto: "tcp"), Port(number: 2379, proto: "tcp"),
                                       Port(number: 2380, proto: "tcp")] + all : all
    }

    /// etcd's ports matter between servers only.
    static func reaches(_ source: Node, _ port: Port) -> Bool { source.role == .server || ![2379, 2380].contains(port.number) }

    static let directory = "/var/lib/parvester/port-check"

    func targets(_ context: RunContext) -> [String] {
        let nodes = context.inventory.nodes
        return nodes.count > 1 && HostChecks.level(.ports, context.inventory.cluster) != .skip ? nodes.map(\.name) : []
    }

    func note(_ context: RunContext) -> String? { "only while a node has not joined the cluster yet" }

    func run(_ context: RunContext) async throws {
        let nodes = context.healthy(context.inventory.nodes)
        // A node that joined before has shown its ports work, even while RKE2 is stopped there: a roll cut
        // short leaves a server restarting, and its ports closing under the probes would read as a firewall.
        let joining = nodes.filter { node in
            guard let facts = context.facts(node) else { return true }
            return !facts.runsRKE2 && !facts.holdsClusterData(as: node.role)
        }
        guard nodes.count > 1, !joining.isEmpty else { return }
        let level = HostChecks.level(.ports, context.inventory.cluster)

        // One token per run: it names the listeners' directory and marks this run's datagrams.
        let token = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        // 1. Listeners.
        let listening = Bound()
        await context.forEach(nodes) { node in
            do {
                let specs = Self.ports(of: node).map(\.description)
                let output = try await context.run(node, Self.listen(specs, run: token), summary: "listen on RKE2's free ports for the port check")
                var bound: [Port: Bool] = [:]
                for line in output.stdoutText.split(separator: "\n") {
                    let words = line.split(separator: " ")
                    guard words.count == 2, let port = Self.parse(String(words[1])) else { continue }
                    bound[port] = words[0] == "bound"
                }
                listening.set(node.name, bound)
            } catch {
                listening.set(node.name, [:])
            }
        }
        // 2. Connections and datagrams, from every node to every other, 25 nodes at a time: every node's
        // first contact with every other at once strains a small network's ARP and queues.
        let results = Results()
        await context.forEach(nodes, width: 25) { source in
            var probes: [String] = []
            for target in nodes where target.name != source.name {
                for (port, bound) in listening.get(target.name).sorted(by: { $0.key < $1.key }) where Self.reaches(source, port) {
                    if port.proto == "tcp" { probes.append("tcp|\(target.address)|\(port.number)|\(target.name)") }
                    else if bound { probes.append("udp|\(target.address)|\(port.number)|\(target.name) \(token) \(source.name)") }
                }
            }
            guard !probes.isEmpty else { return }
            let output = try? await context.run(source, Self.probe(probes), summary: "connect to the other nodes' RKE2 ports")
            for line in (output?.stdoutText ?? "").split(separator: "\n") {
                let words = line.split(separator: " ", maxSplits: 1).map(String.init)
                guard words.count == 2, words[0] == "fail" else { continue }
                let fields = words[1].split(separator: "|").map(String.init)
                guard fields.count == 4, let number = Int(fields[2]) else { continue }
                results.blocked(target: fields[3], port: Port(number: number, proto: "tcp"), from: source.name)
            }
        }
        // 3. What arrived over UDP; the listeners stop.
        await context.forEach(nodes) { target in
            let output = try? await context.run(target, Self.collect(run: token), summary: "read the port check's datagrams and stop its listener")
            var arrived: Set<String> = []
            for line in (output?.stdoutText ?? "").split(separator: "\n") {
                let words = line.split(separator: " ").map(String.init)  // PORT/udp TARGET TOKEN SOURCE
                if words.count == 4, words[2] == token { arrived.insert("\(words[0]) \(words[3])") }
                if words.count == 2, words[0] == "nftdrops", let count = Int(words[1]) { results.nftDrops(target.name, count) }
            }
            for (port, bound) in listening.get(target.name) where port.proto == "udp" && bound {
                for source in nodes where source.name != target.name && !arrived.contains("\(port) \(source.name)") {
                    results.blocked(target: target.name, port: port, from: source.name)
                }
            }
        }

        await context.forEach(nodes) { node in
            await context.step(id, node) {
                let blocked = results.get(node.name)
                let checked = listening.get(node.name).count
                guard !blocked.isEmpty else { return .ok("\(checked) port\(checked == 1 ? "" : "s") reachable from \(nodes.count - 1) node\(nodes.count == 2 ? "" : "s")") }
                let list = blocked.sorted { $0.key < $1.key }.map { "\($0.key) from \($0.value.sorted().joined(separator: ", "))" }.joined(separator: "; ")
                let finding = HostFinding(.ports, "unreachable: \(list)", fix: Self.fix(context.facts(node), nftDrops: results.nftDrops(node.name), ports: blocked.keys.sorted()))
                if level == .fail { throw HostRefused(finding.text + " (to go on anyway: cluster.hostChecks: {ports: warn})") }
                return .ok("warning: " + finding.text)
            }
        }
        let initial = context.inventory.initialServer
        if context.hasFailed(initial) { throw RunAbort("the initial server \(initial.name) did not pass the port check") }
    }

    static func parse(_ text: String) -> Port? {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let number = Int(parts[0]) else { return nil }
        return Port(number: number, proto: String(parts[1]))
    }

    /// The fix for the firewall the node runs, or where to look when it runs none Parvester knows.
    static func fix(_ facts: NodeFacts?, nftDrops: Int?, ports: [Port]) -> String {
        let tcp = ports.filter { $0.proto == "tcp" }.map { String($0.number) }, udp = ports.filter { $0.proto == "udp" }.map { String($0.number) }
        if facts?.isActive("firewalld") == true {
            return "firewall-cmd --permanent " + ports.map { "--add-port=\($0)" }.joined(separator: " ") + " && firewall-cmd --reload"
        }
        if facts?.isActive("ufw") == true {
            return [tcp.isEmpty ? nil : "ufw allow \(tcp.joined(separator: ","))/tcp", udp.isEmpty ? nil : "ufw allow \(udp.joined(separator: ","))/udp"]
                .compactMap { $0 }.joined(separator: " && ")
        }
        if let drops = nftDrops, drops > 0 {
            return "nftables has \(drops) rule\(drops == 1 ? "" : "s") that drop or reject (nft list ruleset): accept \(ports.map(\.description).joined(separator: ", ")) from the other nodes"
        }
        return "allow \(ports.map(\.description).joined(separator: ", ")) from the other nodes in every firewall on the way (iptables, cloud security groups, the switch)"
    }

    /// Round 1: a listener on each free port, detached from the session, that ends after 120 s or when
    /// round 3 asks. Prints `bound PORT/PROTO` or `busy PORT/PROTO` once it listens. Each run has a
    /// directory of its own; a listener an earlier run left is asked to stop (never killed by a pid it
    /// recorded: after it ends, that pid can be anyone's).
    static func listen(_ specs: [String], run: String) -> String {
        let base = ShellQuote.quote(directory)
        return """
            base=\(base); d=$base/\(run); mkdir -p $base
            for o in $base/*; do [ -d "$o" ] && touch "$o/stop"; done
            i=0; for o in $base/*; do while [ -d "$o" ] && [ -f "$o/bound" ] && [ ! -f "$o/done" ] && [ $i -lt 40 ]; do sleep 0.05; i=$((i+1)); done; done
            rm -rf $base/*; mkdir -p $d
            setsid perl -e \(ShellQuote.quote(listener)) $d 120 \(specs.joined(separator: " ")) </dev/null >$d/log 2>&1 &
            i=0; while [ ! -f $d/bound ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
            cat $d/bound 2>/dev/null || { echo "the port check's listener did not start: $(cat $d/log)" >&2; exit 1; }
            """
    }

    static let listener = #"""
        use strict; use IO::Socket::INET; use IO::Select; use Socket;
        my ($dir, $seconds, @specs) = @ARGV;
        my $select = IO::Select->new; my %spec; my $bound = "";
        for my $s (@specs) {
          my ($port, $proto) = split m{/}, $s;
          my $sock = $proto eq "tcp" ? IO::Socket::INET->new(LocalPort => $port, Listen => 128, ReuseAddr => 1, Proto => "tcp")
                                     : IO::Socket::INET->new(LocalPort => $port, Proto => "udp");
          if ($sock) { $select->add($sock); $spec{fileno $sock} = $s; $bound .= "bound $s\n" } else { $bound .= "busy $s\n"; next }
          setsockopt($sock, SOL_SOCKET, SO_RCVBUF, 1 << 20) if $proto eq "udp";  # every node's datagrams at once
        }
        open(my $b, ">", "$dir/bound.tmp") or die; print $b $bound; close $b; rename "$dir/bound.tmp", "$dir/bound";
        open(my $u, ">>", "$dir/udp") or die; $u->autoflush(1);
        my $end = time + $seconds;
        while (time < $end && ! -e "$dir/stop") {
          for my $sock ($select->can_read(0.2)) {
            my $s = $spec{fileno $sock};
            if ($s =~ m{/tcp$}) { my $c = $sock->accept; close $c if $c } else { my $m = ""; $sock->recv($m, 512); print $u "$s $m\n" }
          }
        }
        open(my $done, ">", "$dir/done"); close $done;
        """#

    /// Round 2: non-blocking connects, at most 32 in flight, each given 5 s (the kernel resends a lost SYN
    /// after 1 s and 3 s). A connect that fails is tried once more after the first pass: a first contact
    /// with many nodes at once can lose ARP answers (EHOSTUNREACH) where nothing blocks the port. Each UDP
    /// target gets a datagram in each of three rounds, 0.3 s apart, for the same reason. Prints `ok|fail
    /// PROTO|ADDRESS|PORT|NAME` per TCP target.
    static func probe(_ probes: [String]) -> String {
        "perl -e \(ShellQuote.quote(prober)) " + probes.map(ShellQuote.quote).joined(separator: " ")
    }

    static let prober = #"""
        use strict; use IO::Socket::INET; use IO::Select; use Socket; use Time::HiRes qw(time);
        my (@tcp, @udp, @again);
        for my $t (@ARGV) { my @f = split /\|/, $t; push @{ $f[0] eq "udp" ? \@udp : \@tcp }, [$t, @f] }
        my %pending; my $select = IO::Select->new; my $rounds = 0; my $next_udp = 0;
        sub failed { my ($t, $retry) = @_; if ($retry) { push @again, $t } else { print "fail $t->[0]\n" } }
        for my $pass (1, 2) {
          my $retry = $pass == 1;
          @tcp = @again if $pass == 2; @again = ();
          while (@tcp || $select->count || ($pass == 2 && $rounds < 3)) {
            if ($rounds < 3 && time >= $next_udp) {
              for my $u (@udp) { my $s = IO::Socket::INET->new(PeerAddr => $u->[2], PeerPort => $u->[3], Proto => "udp"); if ($s) { $s->send($u->[4]); close $s } }
              $rounds++; $next_udp = time + 0.3;
            }
            while (@tcp && $select->count < 32) {
              my $t = shift @tcp;
              my $s = IO::Socket::INET->new(PeerAddr => $t->[2], PeerPort => $t->[3], Proto => "tcp", Blocking => 0);
              if (!$s) { failed($t, $retry); next }
              $pending{fileno $s} = [$s, $t, time + 5]; $select->add($s);
            }
            for my $s ($select->can_write(0.1)) {
              my ($sock, $t) = @{$pending{fileno $s}};
              if ($sock->sockopt(SO_ERROR)) { failed($t, $retry) } else { print "ok $t->[0]\n" }
              $select->remove($s); close $s;
            }
            for my $s ($select->handles) {
              my ($sock, $t, $deadline) = @{$pending{fileno $s}};
              if (time > $deadline) { failed($t, $retry); $select->remove($s); close $s }
            }
          }
        }
        """#

    /// Round 3: what arrived; the listener stops by itself within 0.2 s of the stop file. Also how many
    /// nftables rules drop or reject, for the fix a blocked port gets.
    static func collect(run: String) -> String {
        """
        d=\(ShellQuote.quote(directory))/\(run); touch $d/stop; cat $d/udp 2>/dev/null
        command -v nft >/dev/null 2>&1 && echo "nftdrops $(nft list ruleset 2>/dev/null | grep -cE '(^|[[:space:]])(drop|reject)([[:space:]]|$)')"
        true
        """
    }
}

/// What each node's listener bound (port → bound, or busy), shared across the concurrent rounds.
private final class Bound: @unchecked Sendable {
    private let lock = NSLock()
    private var ports: [String: [PortCheckPhase.Port: Bool]] = [:]
    func set(_ node: String, _ value: [PortCheckPhase.Port: Bool]) { lock.withLock { ports[node] = value } }
    func get(_ node: String) -> [PortCheckPhase.Port: Bool] { lock.withLock { ports[node] ?? [:] } }
}

/// Target node → blocked port → the sources that could not reach it; and each node's nftables drop rules.
private final class Results: @unchecked Sendable {
    private let lock = NSLock()
    private var blocked: [String: [PortCheckPhase.Port: Set<String>]] = [:]
    private var drops: [String: Int] = [:]
    func nftDrops(_ node: String, _ count: Int) { lock.withLock { drops[node] = count } }
    func nftDrops(_ node: String) -> Int? { lock.withLock { drops[node] } }
    func blocked(target: String, port: PortCheckPhase.Port, from source: String) {
        lock.withLock { blocked[target, default: [:]][port, default: []].insert(source) }
    }
    func get(_ node: String) -> [PortCheckPhase.Port: Set<String>] { lock.withLock { blocked[node] ?? [:] } }
}

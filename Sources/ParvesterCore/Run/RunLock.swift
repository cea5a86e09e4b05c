import Foundation
import SSH

/// The cluster's run lock: a directory on the initialising server, made with `mkdir` (atomic), holding
/// who took it. The holder touches it every `heartbeat` seconds. Another run refuses while it is fresh,
/// naming the holder; it takes over a lock whose holder is gone: a process of this machine that no
/// longer exists, or a heartbeat older than `staleAfter`.
final class RunLock: @unchecked Sendable {
    static let directory = "/var/lib/parvester/run.lock"
    static let heartbeat: TimeInterval = 10
    static let staleAfter: TimeInterval = 60

    struct Holder: Codable, Equatable {
        var host: String
        var pid: Int32
        /// The process's start time (from /proc), so a reused PID is not mistaken for the holder.
        var started: String
        var user: String
        var since: String
        /// This run's own identity, which release checks for.
        var run: String?
    }

    let node: Node
    let holder: Holder
    private var beat: Task<Void, Never>?

    init(node: Node) {
        self.node = node
        let pid = getpid()
        holder = Holder(host: ProcessInfo.processInfo.hostName, pid: pid, started: Self.startTime(of: pid) ?? "",
                        user: ProcessInfo.processInfo.environment["USER"] ?? NSUserName(),
                        since: ISO8601DateFormatter().string(from: Date()), run: UUID().uuidString)
    }

    /// Takes the lock, or throws naming who holds it. Returns whether a stale lock was taken over.
    func acquire(_ context: RunContext) async throws -> String? {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let info = String(decoding: try encoder.encode(holder), as: UTF8.self)
        let dir = ShellQuote.quote(Self.directory)
        // mkdir is the atomic test-and-set; the holder file follows. Output: "acquired", or the holder and
        // the seconds since its last heartbeat.
        let attempt = """
            mkdir -p /var/lib/parvester && if mkdir \(dir) 2>/dev/null; then printf '%s\\n' \(ShellQuote.quote(info)) > \(dir)/holder && echo acquired; \
            else echo held; cat \(dir)/holder 2>/dev/null; echo; echo $(( $(date +%s) - $(stat -c %Y \(dir) 2>/dev/null || date +%s) )); fi
            """
        for _ in 0..<2 {
            let result = try await context.run(node, attempt, summary: "take the run lock \(Self.directory)")
            let lines = result.stdoutText.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            if lines.first == "acquired" {
                startHeartbeat(context)
                return nil
            }
            let other = lines.count > 1 ? try? JSONDecoder().decode(Holder.self, from: Data(lines[1].utf8)) : nil
            let age = lines.count > 2 ? TimeInterval(lines.dropFirst(2).first { !$0.isEmpty } ?? "") ?? 0 : 0
            guard isStale(other, age: age) else {
                let who = other.map { "\($0.user)@\($0.host) (pid \($0.pid), since \($0.since))" } ?? "an unknown run"
                throw RunAbort("another parvester run holds the cluster's lock on \(node.name): \(who). Wait for it to finish; a lock from a killed run is taken over after \(Int(Self.staleAfter)) s without heartbeat")
            }
            // Stale: move it aside atomically (only one taker wins the rename), then try again.
            let aside = ShellQuote.quote(Self.directory + ".stale-\(UInt32.random(in: 0...UInt32.max))")
            try await context.run(node, "mv \(dir) \(aside) 2>/dev/null && rm -rf \(aside); true", summary: "take over the stale run lock")
        }
        throw RunAbort("could not take the run lock on \(node.name): another run keeps taking it")
    }

    private func isStale(_ other: Holder?, age: TimeInterval) -> Bool {
        guard let other else { return age > Self.staleAfter }
        if other.host == holder.host, other.pid != holder.pid || other.started != holder.started {
            // Same machine: the holder is gone if its process is, is a zombie nobody reaped, or the PID now
            // belongs to another process.
            guard let started = Self.startTime(of: other.pid), !Self.isZombie(other.pid) else { return true }
            if started != other.started { return true }
        }
        return age > Self.staleAfter
    }

    private func startHeartbeat(_ context: RunContext) {
        let node = node
        beat = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(Self.heartbeat))
                if Task.isCancelled { break }
                _ = try? await context.run(node, "touch -c \(ShellQuote.quote(Self.directory))", summary: "refresh the run lock")
            }
        }
    }

    static let releaseTimeout: TimeInterval = 15

    func release(_ context: RunContext) async throws {
        beat?.cancel()
        let dir = ShellQuote.quote(Self.directory)
        let mine = ShellQuote.quote("\"run\":\"\(holder.run ?? "")\"")
        // Only our own lock: a run that lost it to a takeover must not remove the new holder's.
        // Short: a lock left behind is taken over by the next run, so there is no point waiting long on a
        // node that stopped answering (and none at all when it already did: the connection says so at once).
        try await context.run(node, "grep -qF \(mine) \(dir)/holder 2>/dev/null && rm -rf \(dir); true", summary: "release the run lock",
                              timeout: Self.releaseTimeout)
    }

    static func isZombie(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let end = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(after: end)...].split(separator: " ").first == "Z"
    }

    /// Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot.
    static func startTime(of pid: Int32) -> String? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let end = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: end)...].split(separator: " ")
        return fields.count > 19 ? String(fields[19]) : nil
    }
}

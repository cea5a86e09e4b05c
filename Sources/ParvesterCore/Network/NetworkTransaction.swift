import Foundation
import SSH

/// A network change with an automatic way back, as `netplan try` does it. Before anything changes, the
/// node keeps a copy of every file the change touches and a rollback script, and a transient systemd
/// timer (not tied to the SSH session) is armed to run the script after `rollbackAfter` seconds. Then the
/// new files are written and applied from a transient service (the session may drop). Parvester
/// reconnects to the node's address and confirms, which stops the timer. If it cannot, the node puts the
/// old files back and applies them by itself.
///
/// Confirming and rolling back take one lock and both need the `pending` marker, so exactly one of them
/// happens: a confirm that comes after the timer fired finds no marker and reports the rollback.
struct NetworkTransaction {
    static let directory = "/var/lib/parvester/network-transaction"
    static let backups = "/var/lib/parvester/network-backup"
    static let timerUnit = "parvester-network-rollback"
    static let applyUnit = "parvester-network-apply"

    let change: BridgeChange
    let bridge: String
    let uplink: String
    let rollbackAfter: Double

    /// The `pending` marker's line: bridge, uplink, stack, and when the timer fires (Unix seconds).
    struct Pending {
        var bridge: String
        var uplink: String
        var stack: String
        var deadline: Double

        init?(_ line: String) {
            let words = line.split(separator: " ").map(String.init)
            guard words.count == 4, let deadline = Double(words[3]) else { return nil }
            (bridge, uplink, stack, self.deadline) = (words[0], words[1], words[2], deadline)
        }
    }

    /// Runs as root on the node, from the timer or from a run that finds a change never armed.
    var rollbackScript: String {
        let restores = change.touched.enumerated().map { index, path in
            let p = ShellQuote.quote(path)
            return "if [ -f \"$d/backup/\(index)\" ]; then cp -p \"$d/backup/\(index)\" \(p).parvester-tmp && mv -f \(p).parvester-tmp \(p); else rm -f \(p); fi"
        }.joined(separator: "\n")
        return """
            #!/bin/sh
            # Written by Parvester: puts back the network configuration from before the change to \(bridge)
            # (\(change.stack.rawValue)) and applies it. Armed as \(Self.timerUnit).timer; disarmed when Parvester confirms.
            d=\(Self.directory)
            exec 9>"$d/lock"; flock 9
            [ -f "$d/pending" ] || exit 0
            rm -f "$d/pending"
            \(restores)
            \(change.restore)
            echo "rolled back $(date +%s)" > "$d/rolled-back"
            """
    }

    /// Step 1, one command: the backups, the rollback script, the marker, then the timer. Anything left
    /// by an earlier transaction has been dealt with before (`BridgePhase`).
    func prepare(now: Date) -> String {
        let d = Self.directory
        let copies = change.touched.enumerated().map { index, path in
            "[ -f \(ShellQuote.quote(path)) ] && cp -p \(ShellQuote.quote(path)) \(d)/backup/\(index)"
        }.joined(separator: "\n")
        let deadline = Int(now.timeIntervalSince1970 + rollbackAfter)
        return """
            systemctl stop \(Self.timerUnit).timer >/dev/null 2>&1; rm -rf \(d); mkdir -p \(d)/backup
            \(copies)
            cat > \(d)/rollback.sh <<'PARVESTER_ROLLBACK'
            \(rollbackScript)
            PARVESTER_ROLLBACK
            echo \(ShellQuote.quote("\(bridge) \(uplink) \(change.stack.rawValue) \(deadline)")) > \(d)/pending
            systemd-run --quiet --unit=\(Self.timerUnit) --on-active=\(Int(rollbackAfter)) --timer-property=AccuracySec=1s /bin/sh \(d)/rollback.sh
            """
    }

    /// Step 3: makes the new configuration live from a transient service, so that the change finishes
    /// when it cuts the session that started it.
    var applyDetached: String {
        "systemctl reset-failed \(Self.applyUnit) >/dev/null 2>&1; systemd-run --quiet --collect --unit=\(Self.applyUnit) /bin/sh -c \(ShellQuote.quote(change.apply))"
    }

    /// Step 5: confirms (stops the timer, keeps the backup) if the rollback has not started; exits 3 if it has.
    static var confirm: String {
        let d = directory
        return """
            [ -d \(d) ] || exit 3
            exec 9>\(d)/lock; flock 9
            [ -f \(d)/pending ] || exit 3
            systemctl stop \(timerUnit).timer >/dev/null 2>&1
            b=\(backups)/$(date +%Y%m%dT%H%M%S); mkdir -p \(backups) && mv \(d)/backup "$b" && cp \(d)/rollback.sh "$b/"
            rm -f \(d)/pending; rm -rf \(d)
            """
    }

    /// For a change found armed but never applied (Parvester killed before the timer): restore now.
    static var rollbackNow: String {
        "systemctl stop \(timerUnit).timer >/dev/null 2>&1; [ -f \(directory)/rollback.sh ] && /bin/sh \(directory)/rollback.sh; rm -rf \(directory)"
    }
}

import Foundation

/// Everything a run recorded, in order; thread-safe, since nodes report in parallel.
public final class RunReport: @unchecked Sendable {
    private let lock = NSLock()
    private var records: [StepRecord] = []
    private var remarks: [String] = []
    private let observer: RunObserver?

    public init(observer: RunObserver?) { self.observer = observer }

    public func record(_ record: StepRecord) {
        lock.withLock { records.append(record) }
        observer?.recorded(record)
    }

    public var all: [StepRecord] { lock.withLock { records } }

    /// A remark for the end of the report (a node the inventory no longer names, what was left behind).
    public func notice(_ text: String) {
        let added = lock.withLock { () -> Bool in
            guard !remarks.contains(text) else { return false }
            remarks.append(text)
            return true
        }
        if added { observer?.notice(text) }
    }

    public var notices: [String] { lock.withLock { remarks } }

    public var failures: [StepRecord] { all.filter { $0.outcome == .failed } }
    public var changedCount: Int { all.filter { $0.outcome == .changed }.count }

    func phaseStarted(_ phase: String, title: String) { observer?.phaseStarted(phase, title: title) }
    func transfer(target: String, file: String, sent: Int64, total: Int64) { observer?.transfer(target: target, file: file, sent: sent, total: total) }
    func command(target: String, _ summary: String) { observer?.command(target: target, summary) }
    func stillWorking(target: String, _ line: String) { observer?.stillWorking(target: target, line) }
}

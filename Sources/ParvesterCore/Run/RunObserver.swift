/// Receives what a run does as it happens: the CLI prints it, tests collect it.
public protocol RunObserver: Sendable {
    func phaseStarted(_ phase: String, title: String)
    func recorded(_ record: StepRecord)
    /// Bytes sent of a transfer (artifacts), for progress bars.
    func transfer(target: String, file: String, sent: Int64, total: Int64)
    /// A command run on a node (already free of secrets), for `-v`.
    func command(target: String, _ summary: String)
    /// A step still running after a while: what it waits for, how long so far, and its limit.
    func stillWorking(target: String, _ line: String)
    /// A remark the run makes once (see `RunReport.notice`).
    func notice(_ text: String)
}

extension RunObserver {
    public func phaseStarted(_ phase: String, title: String) {}
    public func transfer(target: String, file: String, sent: Int64, total: Int64) {}
    public func command(target: String, _ summary: String) {}
    public func stillWorking(target: String, _ line: String) {}
    public func notice(_ text: String) {}
}

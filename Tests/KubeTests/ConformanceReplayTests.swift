import Foundation
import Testing
import TestSupport

/// The lab's API double answers as the real kube-apiserver did in ../shared/kube-conformance: every
/// scenario replayed, status codes, content types, warnings, Status bodies, resourceVersion equalities
/// and the object fields Parvester reads compared (Tests/Lab/conformance/replay.py; the differences it
/// allows are listed there, one reason each).
@Suite("API double against kube-apiserver recordings")
struct ConformanceReplayTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func everyRecordedScenarioReplaysWithoutUnexplainedDifferences() throws {
        let recordings = Self.root.deletingLastPathComponent().appendingPathComponent("shared/kube-conformance")
        try #require(FileManager.default.fileExists(atPath: recordings.path),
                     "the recordings are missing: \(recordings.path) (the project's shared/ folder, beside the checkout)")
        let replay = try LocalProcess.run("python3", [Self.root.appendingPathComponent("Tests/Lab/conformance/replay.py").path, recordings.path])
        let summary = replay.stdout.split(separator: "\n").last.map(String.init) ?? ""
        #expect(summary.hasPrefix("conformance: 19 scenarios"), "\(replay.stdout)\(replay.stderr)")
        #expect(replay.status == 0, "\(replay.stdout)\(replay.stderr)")
    }
}

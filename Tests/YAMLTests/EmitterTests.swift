import Foundation
import Testing
import TestSupport
@testable import YAML

@Suite("Emitting files that read back as the same values")
struct EmitterTests {
    static let trickyStrings = [
        "on", "off", "yes", "no", "y", "n", "Y", "N", "true", "False", "null", "~", "", " ", "0644", "0o644", "0x1F",
        "1e3", "1E3", "1.5", ".5", "-1", "+1", "1_000", "12:30", "190:20:30", ".inf", "-.inf", ".nan", "2024-01-02",
        "<<", "=", "-", "- item", "? q", "a: b", "a #b", "#c", "key:", "@at", "`tick", "!bang", "&amp", "*star", "|pipe",
        ">gt", "'single", "\"double", "%pct", "{brace", "[bracket", "a, b", "trailing ", " leading", "multi\nline",
        "tab\there", "K10abc::server:s3cr3t", "https://parvester.192.168.48.73.sslip.io:9345", "192.168.48.73",
        "fe80::1", "v1.28.11+rke2r1", "node-role.kubernetes.io/worker=true", "key=value:NoSchedule", "ünïcode",
        "emoji 🚀", "nul\u{0}byte", "bell\u{7}", "\r\n", "line\n  indented\n", "ends with newline\n",
    ]

    @Test func stringsRoundTripThroughLibyaml() throws {
        let document = YAMLNode.mapping(Self.trickyStrings.enumerated().map { ("k\($0.offset)", .string($0.element)) })
        let text = try YAMLEmitter.emit(document)
        let back = try #require(try YAMLParser.parse(text))
        for (index, value) in Self.trickyStrings.enumerated() {
            let node = try #require(back["k\(index)"])
            #expect(node.scalar?.value == value, "k\(index) in:\n\(text)")
            #expect(ScalarResolver.resolve(node) == .string, "\(value.debugDescription) would not read back as a string")
        }
    }

    @Test func safeStringsStayPlainAndReadable() throws {
        let text = try YAMLEmitter.emit(.mapping([
            ("token", .string("supersecret")), ("write-kubeconfig-mode", .string("0644")),
            ("tls-san", .sequence([.string("parvester.192.168.48.73.sslip.io"), .string("192.168.48.73")])),
            ("server", .string("https://parvester.192.168.48.73.sslip.io:9345")),
        ]))
        #expect(text == """
            token: supersecret
            write-kubeconfig-mode: "0644"
            tls-san:
            - parvester.192.168.48.73.sslip.io
            - 192.168.48.73
            server: https://parvester.192.168.48.73.sslip.io:9345

            """)
    }

    @Test func plainScalarsWrittenByUsersKeepTheirMeaning() throws {
        let parsed = try #require(try YAMLParser.parse("retention: 5\nselinux: true\ncni: canal\nquoted: \"5\"\n"))
        let text = try YAMLEmitter.emit(parsed)
        #expect(text == "retention: 5\nselinux: true\ncni: canal\nquoted: \"5\"\n")
    }

    @Test func multipleDocumentsAndEmptyCollections() throws {
        let text = try YAMLEmitter.emit(documents: [.mapping([("a", .sequence([]))]), .mapping([("b", .mapping([]))])])
        let back = try YAMLParser.parseAll(text)
        #expect(back.count == 2)
        #expect(back[0]["a"]?.sequence?.isEmpty == true)
        #expect(back[1]["b"]?.mapping?.isEmpty == true)
    }

    @Test func longValuesAreNotFolded() throws {
        let long = String(repeating: "abcdefghij", count: 30)
        let text = try YAMLEmitter.emit(.mapping([("token", .string(long))]))
        #expect(text == "token: \(long)\n")
    }

    /// PyYAML resolves plain scalars by YAML 1.1 rules, as RKE2's Go reader does: an independent check
    /// that every emitted string reads back as the same string there too.
    @Test(.enabled(if: PythonYAML.available, "python3 with PyYAML is needed for the YAML 1.1 oracle"))
    func stringsReadBackUnderYAML11ByPyYAML() throws {
        let printable = Self.trickyStrings.filter { !$0.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" && $0 != "\t" } }
        let document = YAMLNode.sequence(printable.map { .string($0) })
        let text = try YAMLEmitter.emit(document)
        let output = try PythonYAML.run(
            "import sys, yaml, json; v = yaml.safe_load(sys.stdin.read()); print(json.dumps([type(x).__name__ for x in v])); print(json.dumps(v))",
            input: text)
        let lines = output.split(separator: "\n")
        #expect(lines.count == 2)
        let types = try JSONDecoder().decode([String].self, from: Data(lines[0].utf8))
        let values = try JSONDecoder().decode([String].self, from: Data(lines[1].utf8))
        #expect(types == Array(repeating: "str", count: printable.count))
        #expect(values == printable)
    }
}

enum PythonYAML {
    /// Debian's python3 with python3-yaml (what `make deps` installs), else the first python3 on PATH.
    static let interpreter: String? = ["/usr/bin/python3", "python3"].first { candidate in
        (try? LocalProcess.run(candidate, ["-c", "import yaml"]))?.status == 0
    }
    static var available: Bool { interpreter != nil }

    static func run(_ script: String, input: String) throws -> String {
        let result = try LocalProcess.run(interpreter ?? "python3", ["-c", script], input: Data(input.utf8))
        guard result.status == 0 else { throw CocoaError(.fileReadUnknown) }
        return result.stdout
    }
}

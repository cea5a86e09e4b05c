import Testing
@testable import YAML

private enum Role: String, YAMLChoice { case server, agent }

private struct Node: Decodable, Equatable {
    var name: String
    var role: Role
    var port: Int?
    var become: Bool?
    var mode: String?
    var labels: [String: String]?
    enum CodingKeys: String, CodingKey, CaseIterable { case name, role, port, become, mode, labels }
}

private struct Spec: Decodable {
    var nodes: [Node]
    var tlsSANs: [String]?
    var extra: YAMLNode?
    enum CodingKeys: String, CodingKey, CaseIterable { case nodes, tlsSANs, extra }
}

@Suite("Decoding with positions, strict keys and YAML 1.1 traps")
struct DecoderTests {
    let decoder = YAMLDecoder()

    private func decodeError(_ text: String) -> YAMLError? {
        #expect(throws: YAMLError.self) { try decoder.decode(Spec.self, fromYAML: text, file: "inventory/cluster.yaml") }
    }

    @Test func decodesNestedValues() throws {
        let spec = try decoder.decode(Spec.self, fromYAML: """
            nodes:
              - name: n1
                role: server
                port: 22
                become: yes
                labels: {zone: a}
            tlsSANs: [a.example, 10.0.0.1]
            extra: {cni: canal, retention: 5}
            """)
        #expect(spec.nodes == [Node(name: "n1", role: .server, port: 22, become: true, mode: nil, labels: ["zone": "a"])])
        #expect(spec.tlsSANs == ["a.example", "10.0.0.1"])
        #expect(spec.extra?["retention"]?.scalar?.value == "5")
    }

    @Test func wrongChoiceNamesTheWordsWithPosition() {
        let error = decodeError("nodes:\n  - name: a\n    role: server\n  - name: b\n    role: master\n")
        #expect(error?.description == #"inventory/cluster.yaml:5:11: nodes[1].role: expected one of server, agent, got "master""#)
    }

    @Test func unknownKeySuggestsTheClosestField() {
        let error = decodeError("nodes: []\ntlsSAN: [a]\n")
        #expect(error?.kind == .unknownKey)
        #expect(error?.description == #"inventory/cluster.yaml:2:1: unknown key "tlsSAN"; did you mean "tlsSANs"?"#)
        let dashed = decodeError("nodes: []\ntls-sans: [a]\n")
        #expect(dashed?.message == #"unknown key "tls-sans"; did you mean "tlsSANs"?"#)
    }

    @Test func unknownKeyWithoutACloseMatchListsTheFields() {
        let error = decodeError("nodes:\n  - name: a\n    role: agent\n    colour: blue\n")
        #expect(error?.description == #"inventory/cluster.yaml:4:5: nodes[0]: unknown key "colour"; expected one of name, role, port, become, mode, labels"#)
    }

    @Test func unknownKeyIsReportedBeforeAMissingField() {
        let error = decodeError("nodes:\n  - nmae: a\n    role: agent\n")
        #expect(error?.message == #"unknown key "nmae"; did you mean "name"?"#)
    }

    @Test func missingFieldPointsAtTheMapping() {
        let error = decodeError("nodes:\n  - role: agent\n")
        #expect(error?.description == #"inventory/cluster.yaml:2:5: nodes[0]: missing required field "name""#)
    }

    @Test func stringFieldsKeepYAML11TrapsAsWritten() throws {
        for word in ["on", "no", "yes", "off", "1e3", "0644", "0x1F", "~x", "12:30", "2024-01-02", "true", "1_000", ".5"] {
            let spec = try decoder.decode(Spec.self, fromYAML: "nodes:\n  - {name: \(word), role: agent, mode: \(word)}\n")
            #expect(spec.nodes[0].name == word)
            #expect(spec.nodes[0].mode == word)
        }
        let quoted = try decoder.decode(Spec.self, fromYAML: "nodes:\n  - {name: a, role: agent, mode: \"0644\"}\n")
        #expect(quoted.nodes[0].mode == "0644")
    }

    @Test func booleansAcceptYAML11WordsButNotQuotedStrings() throws {
        let off = try decoder.decode(Spec.self, fromYAML: "nodes:\n  - {name: a, role: agent, become: off}\n")
        #expect(off.nodes[0].become == false)
        let quoted = decodeError("nodes:\n  - {name: a, role: agent, become: \"true\"}\n")
        #expect(quoted?.message == #"expected true or false, got the string "true"; remove the quotes"#)
        let word = decodeError("nodes:\n  - {name: a, role: agent, become: sometimes}\n")
        #expect(word?.message == #"expected true or false, got "sometimes""#)
    }

    @Test func integersRefuseAmbiguousOctalAndText() throws {
        let ok = try decoder.decode(Spec.self, fromYAML: "nodes:\n  - {name: a, role: agent, port: 0x16}\n")
        #expect(ok.nodes[0].port == 22)
        let octal = decodeError("nodes:\n  - {name: a, role: agent, port: 022}\n")
        #expect(octal?.message.hasPrefix("022 is ambiguous") == true)
        let text = decodeError("nodes:\n  - {name: a, role: agent, port: ssh}\n")
        #expect(text?.description == #"inventory/cluster.yaml:2:34: nodes[0].port: expected an integer, got "ssh""#)
        let huge = decodeError("nodes:\n  - {name: a, role: agent, port: 99999999999999999999999}\n")
        #expect(huge?.message.contains("out of range") == true)
    }

    @Test func wrongShapesAreNamed() {
        #expect(decodeError("nodes: {a: 1}\n")?.message == "expected a list, got a mapping")
        #expect(decodeError("nodes:\n  - just-a-name\n")?.description
                == #"inventory/cluster.yaml:2:5: nodes[0]: expected a mapping, got "just-a-name""#)
        #expect(decodeError("nodes:\n  - {name: [a], role: agent}\n")?.message == "expected a string, got a sequence")
        #expect(decodeError("nodes:\n  - {name: , role: agent}\n")?.message == "a value is required here, got nothing")
    }

    @Test func emptyValuesReadAsEmptyCollections() throws {
        let spec = try decoder.decode(Spec.self, fromYAML: "nodes:\n  - name: a\n    role: agent\n    labels:\n")
        #expect(spec.nodes[0].labels == nil)
        let empty = try decoder.decode([String].self, from: YAMLNode(.scalar(Scalar("", style: .plain))))
        #expect(empty.isEmpty)
    }

    @Test func unsupportedTagsAreRefused() {
        #expect(decodeError("nodes:\n  - {name: !secret a, role: agent}\n")?.message == "the tag !secret is not supported here; remove it")
    }

    @Test func aliasesAndMergesDecode() throws {
        let spec = try decoder.decode(Spec.self, fromYAML: """
            nodes:
              - &base {name: a, role: server, port: 2222}
              - <<: *base
                name: b
            """)
        #expect(spec.nodes.map(\.name) == ["a", "b"])
        #expect(spec.nodes[1].port == 2222)
    }
}

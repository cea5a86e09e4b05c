import Testing
@testable import YAML

@Suite("Parsing YAML into a positioned tree")
struct ParserTests {
    @Test func multipleDocumentsAreReturnedInOrder() throws {
        let docs = try YAMLParser.parseAll("a: 1\n---\nb: 2\n---\n- x\n")
        #expect(docs.count == 3)
        #expect(docs[0]["a"]?.scalar?.value == "1")
        #expect(docs[1]["b"]?.scalar?.value == "2")
        #expect(docs[2].sequence?.first?.scalar?.value == "x")
        #expect(docs[1].mark == Mark(line: 3, column: 1))
    }

    @Test func emptyStreamHasNoDocuments() throws {
        #expect(try YAMLParser.parseAll("").isEmpty)
        #expect(try YAMLParser.parseAll("# only a comment\n\n").isEmpty)
    }

    @Test func parseRefusesSeveralDocumentsWhereOneIsExpected() {
        let error = #expect(throws: YAMLError.self) { try YAMLParser.parse("a: 1\n---\nb: 2\n", file: "x.yaml") }
        #expect(error?.description == "x.yaml:3:1: expected a single document, found 2; remove the extra `---` sections")
    }

    @Test func mappingOrderAndPositionsAreKept() throws {
        let root = try #require(try YAMLParser.parse("zeta: 1\nalpha:\n  inner: [a, b]\nmid: x\n"))
        #expect(root.mapping?.map { $0.key.scalar!.value } == ["zeta", "alpha", "mid"])
        #expect(root["alpha"]?.mark == Mark(line: 3, column: 3))
        let flow = try #require(root["alpha"]?["inner"])
        #expect(flow.mark == Mark(line: 3, column: 10))
        #expect(flow.sequence?[1].mark == Mark(line: 3, column: 14))
        #expect(root.keyMark(at: YAMLPath([.key("mid")])) == Mark(line: 4, column: 1))
    }

    @Test func flowCollectionsAndBlockScalars() throws {
        let text = """
            flow: {a: 1, b: [x, "y z"]}
            literal: |
              line one
              line two
            folded: >
              folded
              text
            keep: |+
              kept

            strip: |-
              stripped
            """
        let root = try #require(try YAMLParser.parse(text))
        #expect(root["flow"]?["b"]?.sequence?.map { $0.scalar!.value } == ["x", "y z"])
        #expect(root["flow"]?["b"]?.sequence?[1].scalar?.style == .doubleQuoted)
        #expect(root["literal"]?.scalar == Scalar("line one\nline two\n", style: .literal))
        #expect(root["folded"]?.scalar == Scalar("folded text\n", style: .folded))
        #expect(root["keep"]?.scalar?.value == "kept\n\n")
        #expect(root["strip"]?.scalar?.value == "stripped")
    }

    @Test func aliasesRepeatTheAnchoredNode() throws {
        let root = try #require(try YAMLParser.parse("base: &b {user: root, port: 22}\nother: *b\nlist: [&x 1, *x]\n"))
        #expect(root["other"]?["user"]?.scalar?.value == "root")
        #expect(root["other"]?["port"]?.mark == root["base"]?["port"]?.mark)
        #expect(root["list"]?.sequence?.map { $0.scalar!.value } == ["1", "1"])
    }

    @Test func undefinedAliasIsAnError() {
        let error = #expect(throws: YAMLError.self) { try YAMLParser.parse("a: *nothing\n") }
        #expect(error?.kind == .syntax)
        #expect(error?.mark == Mark(line: 1, column: 4))
    }

    @Test func mergeKeysFillInWithoutOverriding() throws {
        let text = """
            defaults: &d {user: admin, port: 22}
            extra: &e {become: true}
            node:
              <<: [*d, *e]
              port: 2222
            """
        let node = try #require(try YAMLParser.parse(text)?["node"])
        #expect(node["user"]?.scalar?.value == "admin")
        #expect(node["port"]?.scalar?.value == "2222")
        #expect(node["become"]?.scalar?.value == "true")
        #expect(node.mapping?.count == 3)
    }

    @Test func mergeKeysCanBeLeftUnresolved() throws {
        let root = try #require(try YAMLParser.parse("<<: ${x}\n", options: .init(resolveMerges: false)))
        #expect(root["<<"]?.scalar?.value == "${x}")
    }

    @Test func mergeOfAScalarIsRefused() {
        let error = #expect(throws: YAMLError.self) { try YAMLParser.parse("a:\n  <<: 5\n") }
        #expect(error?.mark == Mark(line: 2, column: 7))
    }

    @Test func duplicateKeysAreRejectedAtTheSecondKey() {
        let error = #expect(throws: YAMLError.self) {
            try YAMLParser.parse("cluster:\n  name: a\n  address: x\n  name: b\n", file: "inv.yaml")
        }
        #expect(error?.kind == .duplicateKey)
        #expect(error?.description == #"inv.yaml:4:3: duplicate key "name" (first defined at 2:3); keep only one"#)
    }

    @Test func duplicateKeysInFlowMappings() {
        let error = #expect(throws: YAMLError.self) { try YAMLParser.parse("{a: 1, a: 2}") }
        #expect(error?.mark == Mark(line: 1, column: 8))
    }

    @Test func syntaxErrorsCarryLibyamlPositions() {
        let error = #expect(throws: YAMLError.self) { try YAMLParser.parse("a: 1\n b: 2\nc: [1, 2\n", file: "bad.yaml") }
        #expect(error?.kind == .syntax)
        #expect(error?.file == "bad.yaml")
        #expect(error?.mark == Mark(line: 2, column: 3))
        #expect(error?.message.contains("mapping values are not allowed") == true)
    }

    @Test func invalidUTF8IsASyntaxErrorWithAPosition() {
        let bytes: [UInt8] = Array("a: 1\nb: ".utf8) + [0xFF, 0xFE, 0x00] + Array("\n".utf8)
        let error = #expect(throws: YAMLError.self) { try YAMLParser.parse(bytes: bytes) }
        #expect(error?.kind == .syntax)
        #expect(error?.mark == Mark(line: 2, column: 4))
        #expect(error?.message.contains("UTF-8") == true)
    }

    @Test func aliasBombsAreRefused() {
        var text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for level in 1...9 {
            let refs = Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ")
            text += "a\(level): &a\(level) [\(refs)]\n"
        }
        let error = #expect(throws: YAMLError.self) { try YAMLParser.parse(text) }
        #expect(error?.kind == .limit)
    }

    @Test func deepNestingIsRefusedNotCrashed() {
        let text = String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000)
        let error = #expect(throws: YAMLError.self) { try YAMLParser.parse(text) }
        #expect(error?.kind == .limit)
    }

    @Test func tagsAreExpanded() throws {
        let root = try #require(try YAMLParser.parse("a: !!str 123\nb: !json {x: 1}\nc: 'q'\n"))
        #expect(root["a"]?.tag == Tag.str)
        #expect(root["b"]?.tag == "!json")
        #expect(ScalarResolver.resolve(root["a"]!) == .string)
        #expect(ScalarResolver.resolve(root["c"]!) == .string)
    }

    @Test func libraryVersionIsReported() {
        #expect(YAMLParser.libraryVersion.split(separator: ".").count == 3)
    }
}

import Foundation
import Testing
import YAML
@testable import ParvesterCore

@Suite("Templates are rendered on the parsed tree")
struct TemplateEngineTests {
    private func render(_ text: String, _ context: YAMLNode) throws -> YAMLNode {
        try TemplateEngine.render(Template(name: "t.yaml", source: "t.yaml", text: text), context: context)
    }

    /// Values that would change a document's structure if pasted into its text.
    static let hostileValues = [
        "a: b", "x\nevil: true", "{evil: true}", "[1, 2]", "- item", "# comment", "*alias", "&anchor x",
        "'quoted", "\"dq", "value\n---\nkind: Secret", "}", "${node.name}", "|\n  block", "on", "0644",
    ]

    @Test(arguments: hostileValues)
    func aValueStaysOneScalar(_ value: String) throws {
        let context = YAMLNode.mapping([("node", .mapping([("name", .string(value))]))])
        let tree = try render("name: ${node.name}\nlabel: prefix-${node.name}-suffix\nother: fixed\n", context)
        let text = try YAMLEmitter.emit(tree)
        let back = try #require(try YAMLParser.parse(text))
        #expect(back.mapping?.map { $0.key.scalar!.value } == ["name", "label", "other"], "\(text)")
        #expect(back["name"]?.scalar?.value == value)
        #expect(back["label"]?.scalar?.value == "prefix-\(value)-suffix")
        #expect(ScalarResolver.resolve(back["name"]!) == .string)
        #expect(back["other"]?.scalar?.value == "fixed")
    }

    @Test func wholeScalarVariablesBecomeStructuredValues() throws {
        let context = YAMLNode.mapping([("c", .mapping([
            ("sans", .sequence([.string("a"), .string("b")])), ("port", .int(22)), ("on", .bool(true)),
        ]))])
        let tree = try render("tls-san: ${c.sans}\nport: ${c.port}\nenabled: ${c.on}\n", context)
        #expect(try YAMLEmitter.emit(tree) == "tls-san:\n- a\n- b\nport: 22\nenabled: true\n")
    }

    @Test func absentValuesDropTheirKeyOrItem() throws {
        let context = YAMLNode.mapping([("n", .mapping([("uplink", .null), ("name", .string("br0"))]))])
        let tree = try render("a: ${n.uplink}\nb: ${n.name}\ncmds:\n  - add ${n.name}\n  - set ${n.uplink} master ${n.name}\n", context)
        #expect(try YAMLEmitter.emit(tree) == "b: br0\ncmds:\n- add br0\n")
    }

    @Test func spreadMergesAMappingAndRefusesCollisions() throws {
        let extra = YAMLNode(.mapping([
            YAMLNode.Pair(key: .string("cni"), value: .string("canal")),
            YAMLNode.Pair(key: .string("retention"), value: YAMLNode(.scalar(Scalar("5", style: .plain)))),
        ]))
        let tree = try render("name: x\n<<: ${extra}\n", .mapping([("extra", extra)]))
        #expect(try YAMLEmitter.emit(tree) == "name: x\ncni: canal\nretention: 5\n")
        let none = try render("name: x\n<<: ${extra}\n", .mapping([("extra", .null)]))
        #expect(try YAMLEmitter.emit(none) == "name: x\n")
        let error = #expect(throws: YAMLError.self) { try render("cni: flannel\n<<: ${extra}\n", .mapping([("extra", extra)])) }
        #expect(error?.description == #"t.yaml:2:1: this renders the key "cni" a second time (first at 1:1)"#)
    }

    @Test func jsonTagWritesAJSONString() throws {
        let context = YAMLNode.mapping([("n", .mapping([("name", .string("net \"1\"")), ("vlan", .int(101)), ("none", .null)]))])
        let tree = try render("config: !json\n  cniVersion: 0.3.1\n  name: ${n.name}\n  vlan: ${n.vlan}\n  gone: ${n.none}\n  ipam: {}\n  flag: true\n", context)
        let config = try #require(tree["config"]?.scalar?.value)
        #expect(config == #"{"cniVersion":"0.3.1","name":"net \"1\"","vlan":101,"ipam":{},"flag":true}"#)
        let parsed = try JSONSerialization.jsonObject(with: Data(config.utf8)) as? [String: Any]
        #expect(parsed?["vlan"] as? Int == 101)
    }

    @Test func unknownVariablesAreErrorsWithASuggestion() {
        let context = YAMLNode.mapping([("node", .mapping([("name", .string("a"))]))])
        let error = #expect(throws: YAMLError.self) { try render("x: 1\nname: ${node.nmae}\n", context) }
        #expect(error?.description == "t.yaml:2:7: unknown variable ${node.nmae}; did you mean ${node.name}?")
        let top = #expect(throws: YAMLError.self) { try render("name: ${cluster.name}\n", context) }
        #expect(top?.message == "unknown variable ${cluster.name}; known here: ${node}")
    }

    @Test func malformedPlaceholdersAreErrors() {
        #expect(throws: YAMLError.self) { try render("a: ${node.name\n", .mapping([])) }
        #expect(throws: YAMLError.self) { try render("a: ${1bad}\n", .mapping([])) }
        let inText = #expect(throws: YAMLError.self) {
            try render("a: x-${l}\n", .mapping([("l", .sequence([.string("1")]))]))
        }
        #expect(inText?.message == "${l} is a sequence; inside text only single values fit")
    }

    @Test func dollarDollarEscapes() throws {
        let tree = try render("a: $${HOME} and ${v}\n", .mapping([("v", .string("x"))]))
        #expect(tree["a"]?.scalar?.value == "${HOME} and x")
    }

    @Test func builtInTemplatesMatchTheTemplatesDirectory() throws {
        let files = FixturePaths.files(in: FixturePaths.templates, withExtension: "yaml")
        #expect(files == TemplateStore.builtinNames, "run `make templates` after adding or removing a template")
        for name in files {
            let onDisk = try String(contentsOf: FixturePaths.templates.appendingPathComponent(name), encoding: .utf8)
            let embedded = try TemplateStore().template(named: name)
            let fromDisk = try Template(name: name, source: name, text: onDisk)
            #expect(embedded.root.sameContent(as: fromDisk.root), "\(name) differs from its embedded copy: run `make templates`")
        }
    }

    @Test func aTemplatesDirectoryOverridesBuiltInsFileByFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("parvester-templates-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try "server: ${cluster.joinURL}\nextra: mine\n".write(to: directory.appendingPathComponent("rke2-join-server.yaml"), atomically: true, encoding: .utf8)
        let store = TemplateStore(overrideDirectory: directory.path)
        #expect(try store.template(named: "rke2-join-server.yaml").root["extra"]?.scalar?.value == "mine")
        #expect(try store.template(named: "rke2-agent-config.yaml").source == "templates/rke2-agent-config.yaml")
        #expect(throws: YAMLError.self) { try store.template(named: "nope.yaml") }
    }
}

import Foundation
import Testing
import TestSupport
@testable import YAML

/// Manifests resolve plain scalars as Kubernetes does (sigs.k8s.io/yaml → go-yaml v2, YAML 1.1), not as
/// YAML 1.2 does: a Secret volume's `defaultMode: 0644` must reach the API server as 420.
@Suite("Manifest scalars under Kubernetes' YAML rules")
struct KubernetesScalarTests {
    private func json(_ yaml: String) throws -> String {
        JSONText.encode(try #require(try YAMLParser.parse(yaml)), rules: .kubernetes)
    }

    @Test func octalHexAndBinaryIntegersAreNumbers() throws {
        #expect(try json("a: 0644") == #"{"a":420}"#)
        #expect(try json("a: 0o644") == #"{"a":420}"#)
        #expect(try json("a: 0x1F") == #"{"a":31}"#)
        #expect(try json("a: 0b101") == #"{"a":5}"#)
        #expect(try json("a: -0644") == #"{"a":-420}"#)
        #expect(try json("a: 1_000") == #"{"a":1000}"#)
        #expect(try json("a: 0") == #"{"a":0}"#)
        #expect(try json("a: 08") == #"{"a":8}"#, "not octal: Go's ParseInt fails, ParseFloat reads 8")
    }

    @Test func yaml11BooleansAndNulls() throws {
        #expect(try json("[yes, no, on, off, y, n, Yes, OFF, true, False]") == "[true,false,true,false,true,false,true,false,true,false]")
        #expect(try json("[~, null, Null]") == "[null,null,null]")
    }

    @Test func floatsAndStrings() throws {
        #expect(try json("[1.5, .5, 1e3, -2.5e-1]") == "[1.5,0.5,1000,-0.25]")
        #expect(try json("[2024-01-02, 12:30, v1.2, 1.2.3, abc, '0644', \"yes\", !!str 0644]")
                == #"["2024-01-02","12:30","v1.2","1.2.3","abc","0644","yes","0644"]"#)
    }

    @Test func yaml12RulesAreUnchangedForOtherUses() throws {
        let node = try #require(try YAMLParser.parse("[0644, yes, 0o644]"))
        #expect(JSONText.encode(node) == #"[644,"yes","0o644"]"#)
    }

    /// PyYAML is a YAML 1.1 reader too: where it and go-yaml agree (everything but `0o`, `08`, `1e3`, `12:30`
    /// and timestamps), Parvester must read the same values.
    @Test func agreesWithPyYAMLOnSharedYAML11Forms() throws {
        let values = ["0644", "0x1F", "0b101", "-0644", "1_000", "yes", "No", "on", "OFF", "1.5", "~", "abc", "0.5", "-17"]
        let yaml = "[" + values.joined(separator: ", ") + "]"
        let script = "import json,sys,yaml; print(json.dumps(yaml.safe_load(sys.stdin.read()), separators=(',',':')))"
        let python = try LocalProcess.run("python3", ["-c", script], input: Data(yaml.utf8)).stdout
        let theirs = try #require(try JSONSerialization.jsonObject(with: Data(python.utf8)) as? [Any])
        let ours = try #require(try JSONSerialization.jsonObject(with: Data(try json(yaml).utf8)) as? [Any])
        #expect(theirs.count == ours.count)
        for (index, (a, b)) in zip(theirs, ours).enumerated() {
            #expect("\(a)" == "\(b)" || (a as? NSNumber)?.doubleValue == (b as? NSNumber)?.doubleValue, "\(values[index]): PyYAML \(a), Parvester \(b)")
        }
    }
}

import YAML

/// Writes a systemd unit from a YAML tree of sections (`Unit`, `Service`, ...) mapping keys to a value or
/// a list of values (a key given several times). Refuses anything that could add a line or section.
public enum SystemdUnitRenderer {
    public static func render(_ tree: YAMLNode, source: String) throws -> String {
        func fail(_ node: YAMLNode, _ message: String) -> YAMLError {
            YAMLError(.template, at: node.mark, file: source, message)
        }
        guard let sections = tree.mapping else { throw fail(tree, "a unit template is a mapping of sections") }
        var out: [String] = []
        for section in sections {
            guard let name = section.key.scalar?.value, name.wholeMatch(of: /[A-Za-z][A-Za-z0-9-]*/) != nil else {
                throw fail(section.key, "section names are words such as Unit, Service, Install")
            }
            guard let entries = section.value.mapping else { throw fail(section.value, "section \(name) must be a mapping of keys") }
            if !out.isEmpty { out.append("") }
            out.append("[\(name)]")
            for entry in entries {
                guard let key = entry.key.scalar?.value, key.wholeMatch(of: /[A-Za-z][A-Za-z0-9]*/) != nil else {
                    throw fail(entry.key, "unit keys are words such as ExecStart")
                }
                let values = entry.value.sequence ?? [entry.value]
                for value in values {
                    guard let text = value.scalar?.value else { throw fail(value, "\(key) takes text or a list of text") }
                    if text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) {
                        throw fail(value, "\(key) would contain a line break or control character")
                    }
                    out.append("\(key)=\(text)")
                }
            }
        }
        return out.joined(separator: "\n") + "\n"
    }
}

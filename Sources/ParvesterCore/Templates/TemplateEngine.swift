import YAML

/// Renders a template by replacing values in its parsed tree, never by pasting text, so no inventory
/// value can change a document's structure.
///
/// - A scalar that is exactly `${a.b}` becomes the value at `a.b` in the context: a string, number, list
///   or mapping.
/// - `${a.b}` inside other text is spliced into that text; the result is one string scalar.
/// - A scalar whose variables include an absent (null) value is left out, with its key or list slot.
/// - `<<: ${a.b}` spreads a mapping's entries into the surrounding mapping; as a list item, `- <<: ${a.b}`
///   spreads a list's items into the surrounding list (nothing, when the value is absent).
/// - A node tagged `!json` is rendered and then written as a JSON string (CNI configs).
/// - `$${` writes a literal `${`.
public enum TemplateEngine {
    public static let jsonTag = "!json"

    public static func render(_ template: Template, context: YAMLNode) throws -> YAMLNode {
        let renderer = Renderer(source: template.source, context: context)
        guard let result = try renderer.render(template.root) else {
            throw YAMLError(.template, at: template.root.mark, file: template.source, "the whole template rendered to nothing")
        }
        return result
    }
}

private struct Renderer {
    let source: String
    let context: YAMLNode

    func error(_ mark: Mark, _ message: String) -> YAMLError {
        YAMLError(.template, at: mark, file: source, message)
    }

    /// nil means "left out".
    func render(_ node: YAMLNode) throws -> YAMLNode? {
        var rendered: YAMLNode
        switch node.content {
        case .scalar(let scalar):
            guard let value = try renderScalar(scalar, node: node) else { return nil }
            rendered = value
        case .sequence(let items):
            var result: [YAMLNode] = []
            for item in items {
                if let spread = try spreadItems(item) {
                    result += spread
                } else if let value = try render(item) {
                    result.append(value)
                }
            }
            rendered = YAMLNode(.sequence(result), mark: node.mark, tag: node.tag)
        case .mapping(let pairs):
            rendered = YAMLNode(.mapping(try renderPairs(pairs)), mark: node.mark, tag: node.tag)
        }
        if node.tag == TemplateEngine.jsonTag {
            rendered = YAMLNode.string(JSONText.encode(rendered), mark: node.mark)
        }
        return rendered
    }

    /// The items a `- <<: ${list}` list item stands for; nil when `item` is not one.
    private func spreadItems(_ item: YAMLNode) throws -> [YAMLNode]? {
        guard let pairs = item.mapping, pairs.count == 1, pairs[0].key.scalar?.value == "<<", pairs[0].key.scalar?.style == .plain else {
            return nil
        }
        guard let spread = try render(pairs[0].value), !spread.isNull else { return [] }
        guard let items = spread.sequence else {
            if spread.mapping != nil { return nil }  // a mapping spread into a one-entry mapping item: rendered as usual
            throw error(pairs[0].value.mark, "`- <<` in a list spreads a list, but this is \(spread.kindDescription)")
        }
        return items
    }

    private func renderPairs(_ pairs: [YAMLNode.Pair]) throws -> [YAMLNode.Pair] {
        var result: [YAMLNode.Pair] = []
        var seen: [String: Mark] = [:]
        func add(_ pair: YAMLNode.Pair, at mark: Mark) throws {
            if let key = pair.key.scalar?.value {
                if let first = seen[key] {
                    throw error(mark, "this renders the key \(key.quoted) a second time (first at \(first))")
                }
                seen[key] = mark
            }
            result.append(pair)
        }
        for pair in pairs {
            if pair.key.scalar?.value == "<<", pair.key.scalar?.style == .plain {
                guard let spread = try render(pair.value) else { continue }
                if spread.isNull { continue }
                guard let entries = spread.mapping else {
                    throw error(pair.value.mark, "`<<` spreads a mapping, but this is \(spread.kindDescription)")
                }
                for entry in entries { try add(entry, at: pair.key.mark) }
                continue
            }
            guard let key = try render(pair.key), let value = try render(pair.value) else { continue }
            guard key.scalar != nil else { throw error(pair.key.mark, "a key must render to text") }
            try add(YAMLNode.Pair(key: key, value: value), at: pair.key.mark)
        }
        return result
    }

    private enum Piece {
        case text(String)
        case variable(String)
    }

    /// nil means "left out": a variable in it is absent.
    private func renderScalar(_ scalar: Scalar, node: YAMLNode) throws -> YAMLNode? {
        let pieces = try split(scalar.value, mark: node.mark)
        let variables = pieces.filter { if case .variable = $0 { return true } else { return false } }
        if variables.isEmpty {
            if case .text(let text)? = pieces.first, pieces.count == 1, text == scalar.value { return node }
            let text = pieces.map { if case .text(let t) = $0 { return t } else { return "" } }.joined()
            return YAMLNode(.scalar(Scalar(text, style: scalar.style)), mark: node.mark, tag: node.tag)
        }
        if pieces.count == 1, case .variable(let name) = pieces[0] {
            let value = try lookup(name, mark: node.mark)
            if value.isNull { return nil }
            var placed = value
            placed.mark = node.mark
            return placed
        }
        var text = ""
        for piece in pieces {
            switch piece {
            case .text(let t):
                text += t
            case .variable(let name):
                let value = try lookup(name, mark: node.mark)
                if value.isNull { return nil }
                guard let s = value.scalar else {
                    throw error(node.mark, "${\(name)} is \(value.kindDescription); inside text only single values fit")
                }
                text += s.value
            }
        }
        return YAMLNode.string(text, mark: node.mark)
    }

    private func split(_ text: String, mark: Mark) throws -> [Piece] {
        var pieces: [Piece] = []
        var literal = ""
        var rest = Substring(text)
        while let start = rest.range(of: "${") {
            if rest[..<start.lowerBound].hasSuffix("$") {
                // `$${` is an escaped `${`.
                literal += rest[..<rest.index(before: start.lowerBound)] + "${"
                rest = rest[start.upperBound...]
                continue
            }
            literal += rest[..<start.lowerBound]
            guard let end = rest[start.upperBound...].firstIndex(of: "}") else {
                throw error(mark, "`${` without a closing `}`; write `$${` for a literal `${`")
            }
            let name = String(rest[start.upperBound..<end])
            guard name.wholeMatch(of: /[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*/) != nil else {
                throw error(mark, "${\(name)} is not a variable name such as ${node.name}")
            }
            if !literal.isEmpty { pieces.append(.text(literal)); literal = "" }
            pieces.append(.variable(name))
            rest = rest[rest.index(after: end)...]
        }
        literal += rest
        if !literal.isEmpty || pieces.isEmpty { pieces.append(.text(literal)) }
        return pieces
    }

    private func lookup(_ name: String, mark: Mark) throws -> YAMLNode {
        var current = context
        var walked: [String] = []
        for part in name.split(separator: ".").map(String.init) {
            guard let pairs = current.mapping else {
                throw error(mark, "${\(name)}: \(walked.joined(separator: ".")) has no fields")
            }
            guard let next = current[part] else {
                let known = pairs.compactMap { $0.key.scalar?.value }
                let prefix = walked.isEmpty ? "" : walked.joined(separator: ".") + "."
                var message = "unknown variable ${\(name)}"
                if let suggestion = KeySuggestion.closest(to: part, among: known) {
                    message += "; did you mean ${\(prefix)\(suggestion)}?"
                } else {
                    message += "; known here: " + known.map { "${\(prefix)\($0)}" }.joined(separator: ", ")
                }
                throw error(mark, message)
            }
            walked.append(part)
            current = next
        }
        return current
    }
}

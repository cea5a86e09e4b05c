/// A unified-style diff of two small texts (configuration files): changed lines with `-` and `+`, and
/// one line of context around them.
public enum LineDiff {
    public static func unified(_ old: String, _ new: String, context: Int = 1) -> String {
        let a = old.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let b = new.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        // Longest common subsequence table, from the end.
        var lcs = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in stride(from: a.count - 1, through: 0, by: -1) {
            for j in stride(from: b.count - 1, through: 0, by: -1) {
                lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : max(lcs[i + 1][j], lcs[i][j + 1])
            }
        }
        var lines: [(mark: Character, text: String)] = []
        var (i, j) = (0, 0)
        while i < a.count || j < b.count {
            if i < a.count, j < b.count, a[i] == b[j] {
                lines.append((" ", a[i])); i += 1; j += 1
            } else if i < a.count, j == b.count || lcs[i + 1][j] >= lcs[i][j + 1] {
                lines.append(("-", a[i])); i += 1  // removals before additions, as diff -u prints them
            } else {
                lines.append(("+", b[j])); j += 1
            }
        }
        let changed = lines.indices.filter { lines[$0].mark != " " }
        let shown = Set(changed.flatMap { max(0, $0 - context)...min(lines.count - 1, $0 + context) })
        var out: [String] = []
        var previous: Int?
        for index in shown.sorted() {
            if let previous, index > previous + 1 { out.append("…") }
            out.append("\(lines[index].mark) \(lines[index].text)")
            previous = index
        }
        return out.joined(separator: "\n")
    }
}

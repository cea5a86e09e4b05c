/// Runs work for many items with at most `width` in flight, returning results in the items' order.
/// The work suspends (SSH sessions do their blocking on their own threads), so a wide run never ties
/// up Swift's small cooperative pool.
public enum ParallelRunner {
    public static func map<Item: Sendable, Result: Sendable>(
        _ items: [Item], width: Int, _ work: @escaping @Sendable (Item) async -> Result
    ) async -> [Result] {
        precondition(width >= 1, "width must be at least 1")
        return await withTaskGroup(of: (Int, Result).self) { group in
            var results = [Result?](repeating: nil, count: items.count)
            var next = 0
            func launch() {
                let index = next
                let item = items[index]
                group.addTask { (index, await work(item)) }
                next += 1
            }
            while next < min(width, items.count) { launch() }
            for await (index, result) in group {
                results[index] = result
                if next < items.count { launch() }
            }
            return results.map { $0! }
        }
    }
}

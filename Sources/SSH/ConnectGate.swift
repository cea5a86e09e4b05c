/// Limits how many connections to one host may be in the unauthenticated phase at once: sshd's
/// MaxStartups (10 by default) drops the excess, which a wide parallel run would otherwise hit.
actor ConnectGate {
    static let shared = ConnectGate(limit: 8)

    private let limit: Int
    private var active: [String: Int] = [:]
    private var waiting: [String: [CheckedContinuation<Void, Never>]] = [:]

    init(limit: Int) { self.limit = limit }

    func enter(_ host: String) async {
        if active[host, default: 0] < limit {
            active[host, default: 0] += 1
            return
        }
        await withCheckedContinuation { waiting[host, default: []].append($0) }
    }

    func leave(_ host: String) {
        if var queue = waiting[host], !queue.isEmpty {
            let next = queue.removeFirst()
            waiting[host] = queue
            next.resume()  // the slot passes straight to the next waiter
        } else {
            active[host, default: 1] -= 1
        }
    }
}

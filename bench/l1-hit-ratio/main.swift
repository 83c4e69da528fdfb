// cachekit-bench-l1: the hit ratio of libcachekit's L1 (W-TinyLFU, the real sharded
// implementation from CachekitCore) against plain LRU and Belady's optimal, at the same byte
// budget, on a Zipf(0.9) trace with periodic scans. All entries have the same size, so the
// byte budget is an entry budget for LRU and Belady and their figures are exact.
// Run: swift build -c release --product cachekit-bench-l1 && .build/release/cachekit-bench-l1
import CachekitCore

struct SplitMix64 {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}

/// Request ids: 0..<universe are Zipf keys, ids from `universe` on are one-time scan keys.
func makeTrace(universe: Int, length: Int, exponent: Double, scanEvery: Int, scanLength: Int, seed: UInt64) -> [Int32] {
    var cdf = [Double](repeating: 0, count: universe)
    var total = 0.0
    for rank in 0..<universe {
        total += 1.0 / pow(Double(rank + 1), exponent)
        cdf[rank] = total
    }
    var rng = SplitMix64(state: seed)
    // Ranks are shuffled onto ids so popularity is not correlated with hash order.
    var ids = Array(0..<Int32(universe))
    for i in stride(from: universe - 1, to: 0, by: -1) { ids.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
    var trace: [Int32] = []
    trace.reserveCapacity(length + length / max(scanEvery, 1) * scanLength)
    var nextScanKey = Int32(universe)
    for i in 0..<length {
        if scanEvery > 0, i > 0, i % scanEvery == 0 {
            for _ in 0..<scanLength { trace.append(nextScanKey); nextScanKey += 1 }
        }
        let u = rng.unit() * total
        var lo = 0, hi = universe - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if cdf[mid] < u { lo = mid + 1 } else { hi = mid }
        }
        trace.append(ids[lo])
    }
    return trace
}

func pow(_ x: Double, _ y: Double) -> Double {
    // exp(y * ln x) without Foundation.
    var result = 1.0
    let l = ln(x) * y
    var term = 1.0
    for n in 1..<60 { term *= l / Double(n); result += term; if abs(term) < 1e-17 { break } }
    return result
}

func ln(_ x: Double) -> Double {
    // ln x = 2 atanh((x-1)/(x+1)), after scaling x into [0.5, 1] by powers of two.
    var m = x, k = 0.0
    while m > 1 { m /= 2; k += 1 }
    while m < 0.5 { m *= 2; k -= 1 }
    let t = (m - 1) / (m + 1), t2 = t * t
    var sum = 0.0, power = t
    for n in stride(from: 1, to: 80, by: 2) { sum += power / Double(n); power *= t2 }
    return 2 * sum + k * 0.693_147_180_559_945_3
}

func keyBytes(_ id: Int32) -> [UInt8] {
    var text = Array("key:".utf8)
    var digits = [UInt8](repeating: UInt8(ascii: "0"), count: 10)
    var v = Int(id)
    for i in stride(from: 9, through: 0, by: -1) { digits[i] = UInt8(ascii: "0") + UInt8(v % 10); v /= 10 }
    text += digits
    return text
}

func simulateL1(_ trace: [Int32], budgetBytes: Int, valueSize: Int, shards: Int = 8) -> Double {
    let cache = L1Cache(.init(maxBytes: budgetBytes, maxEntries: Int(Int32.max), shardCount: shards))
    let value = [UInt8](repeating: 0xAB, count: valueSize)
    var hits = 0
    for id in trace {
        let key = keyBytes(id)
        let hit = key.withUnsafeBytes { k -> Bool in
            guard let found = try? cache.get(k, now: 0) else { return false }
            _ = found
            return true
        }
        if hit { hits += 1 } else {
            key.withUnsafeBytes { k in value.withUnsafeBytes { _ = cache.set(k, $0, ttlNanoseconds: 0, countsAsAccess: false, now: 0) } }
        }
    }
    return Double(hits) / Double(trace.count)
}

func simulateLRU(_ trace: [Int32], capacity: Int) -> Double {
    // Doubly linked list over ids in arrays, with a dictionary from id to node.
    var prev: [Int32] = [], next: [Int32] = [], ids: [Int32] = []
    var where_: [Int32: Int32] = [:]
    var head: Int32 = -1, tail: Int32 = -1, count = 0, hits = 0
    func unlink(_ n: Int32) {
        let p = prev[Int(n)], x = next[Int(n)]
        if p >= 0 { next[Int(p)] = x } else { head = x }
        if x >= 0 { prev[Int(x)] = p } else { tail = p }
    }
    func pushFront(_ n: Int32) {
        prev[Int(n)] = -1; next[Int(n)] = head
        if head >= 0 { prev[Int(head)] = n } else { tail = n }
        head = n
    }
    for id in trace {
        if let n = where_[id] {
            hits += 1
            unlink(n); pushFront(n)
            continue
        }
        let n: Int32
        if count < capacity {
            n = Int32(ids.count); ids.append(id); prev.append(-1); next.append(-1); count += 1
        } else {
            n = tail
            unlink(n)
            where_[ids[Int(n)]] = nil
            ids[Int(n)] = id
        }
        where_[id] = n
        pushFront(n)
    }
    return Double(hits) / Double(trace.count)
}

/// Belady's MIN: on a miss with a full cache, evict the entry used furthest in the future.
func simulateBelady(_ trace: [Int32], capacity: Int) -> Double {
    let n = trace.count
    var nextUse = [Int32](repeating: Int32.max, count: n)
    var last: [Int32: Int32] = [:]
    for i in stride(from: n - 1, through: 0, by: -1) {
        nextUse[i] = last[trace[i]] ?? Int32.max
        last[trace[i]] = Int32(i)
    }
    // Max-heap of (next use, id) with lazy deletion: an entry is valid if it matches current[id].
    var heap: [(Int32, Int32)] = []
    var current: [Int32: Int32] = [:]
    var hits = 0
    func push(_ e: (Int32, Int32)) {
        heap.append(e)
        var i = heap.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            if heap[p].0 >= heap[i].0 { break }
            heap.swapAt(p, i); i = p
        }
    }
    func pop() -> (Int32, Int32) {
        let top = heap[0]
        let lastItem = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = lastItem
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < heap.count && heap[l].0 > heap[m].0 { m = l }
                if r < heap.count && heap[r].0 > heap[m].0 { m = r }
                if m == i { break }
                heap.swapAt(i, m); i = m
            }
        }
        return top
    }
    for i in 0..<n {
        let id = trace[i]
        let upcoming = nextUse[i]
        if current[id] != nil {
            hits += 1
        } else if current.count >= capacity {
            while true {
                let (use, victim) = pop()
                if current[victim] == use { current[victim] = nil; break }
            }
        }
        if upcoming == Int32.max {
            // Never used again: keeping it cannot help; do not admit (or drop it now).
            current[id] = nil
            continue
        }
        current[id] = upcoming
        push((upcoming, id))
    }
    return Double(hits) / Double(n)
}

/// The best any online policy can do on an independent-reference trace (the A0 policy: hold the
/// k most probable keys): the probability mass of the top k ranks, diluted by the scan requests.
func topKBound(universe: Int, exponent: Double, entries: Int, zipfShare: Double) -> Double {
    var total = 0.0, top = 0.0
    for rank in 0..<universe {
        let p = 1.0 / pow(Double(rank + 1), exponent)
        total += p
        if rank < entries { top += p }
    }
    return top / total * zipfShare
}

let universe = 100_000
let length = 2_000_000
let valueSize = 1024
let entryCost = keyBytes(0).count + valueSize + L1Cache.entryOverhead
print("Zipf(0.9) over \(universe) keys, \(length) requests, 1 KiB values (\(entryCost) bytes charged per entry)")
print("scans: every 50 000 requests, 10 000 one-time keys (\(length / 50_000 * 10_000) scan requests)")
print("top-k: the online optimum for independent references (hold the k most probable keys)")
print(String(repeating: "-", count: 88))
print("budget            entries   W-TinyLFU       LRU    ratio    Belady    top-k   (no scans: ours / LRU)")
for entries in [1_000, 2_500, 5_000, 10_000] {
    let budget = entries * entryCost
    let trace = makeTrace(universe: universe, length: length, exponent: 0.9, scanEvery: 50_000, scanLength: 10_000, seed: 42)
    let ours = simulateL1(trace, budgetBytes: budget, valueSize: valueSize, shards: Int(CommandLine.arguments.dropFirst().first ?? "8") ?? 8)
    let lru = simulateLRU(trace, capacity: entries)
    let optimal = simulateBelady(trace, capacity: entries)
    let zipfShare = Double(length) / Double(trace.count)
    let bound = topKBound(universe: universe, exponent: 0.9, entries: entries, zipfShare: zipfShare)
    let plain = makeTrace(universe: universe, length: length / 2, exponent: 0.9, scanEvery: 0, scanLength: 0, seed: 7)
    let oursPlain = simulateL1(plain, budgetBytes: budget, valueSize: valueSize)
    let lruPlain = simulateLRU(plain, capacity: entries)
    func pct(_ x: Double) -> String {
        let v = (x * 1000).rounded() / 10
        let s = "\(v)%"
        return String(repeating: " ", count: max(0, 8 - s.count)) + s
    }
    let ratio = (ours / lru * 100).rounded() / 100
    let mib = (Double(budget) / 1_048_576 * 10).rounded() / 10
    print("\(mib) MiB".padding(12) + "\(entries)".padding(12, left: true) + "  " + pct(ours) + "  " + pct(lru)
          + "   \(ratio)x".padding(9, left: true) + "  " + pct(optimal) + " " + pct(bound)
          + "   (" + pct(oursPlain) + " /" + pct(lruPlain) + ")")
}

extension String {
    func padding(_ width: Int, left: Bool = false) -> String {
        let fill = String(repeating: " ", count: max(0, width - count))
        return left ? fill + self : self + fill
    }
}

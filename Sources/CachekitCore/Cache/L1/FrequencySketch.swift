/// TinyLFU's popularity estimate: a count-min sketch of 4-bit counters (4 rows, conservative
/// update) behind a doorkeeper Bloom filter, halved every `sampleSize` additions so that old
/// popularity fades (Einziger, Friedman, Manes: "TinyLFU", 2017). Not thread-safe: each L1
/// shard owns one and uses it under its lock.
struct FrequencySketch {
    private var counters: [UInt64]   // 16 four-bit counters per word, `depth` rows of `width`
    private var doorkeeper: [UInt64] // one bit per slot
    private let width: Int           // counters per row, a power of two
    private let doorkeeperMask: Int
    private var additions = 0
    let sampleSize: Int

    private static let depth = 4
    @inline(__always)
    private static func seed(_ row: Int) -> UInt64 {
        switch row {
        case 0: 0x9E37_79B9_7F4A_7C15
        case 1: 0xC2B2_AE3D_27D4_EB4F
        case 2: 0x1656_67B1_9E37_79F9
        default: 0xD6E8_FEB8_6659_FD93
        }
    }

    /// `expectedEntries`: about how many entries the owner holds; it sizes the sketch.
    init(expectedEntries: Int) {
        let entries = min(max(expectedEntries, 16), 1 << 20)  // at most 2 MiB of counters per sketch
        var width = 16
        while width < entries { width <<= 1 }
        self.width = width
        counters = [UInt64](repeating: 0, count: (width * Self.depth) / 16)
        doorkeeper = [UInt64](repeating: 0, count: max(width / 64, 1))
        doorkeeperMask = doorkeeper.count * 64 - 1
        sampleSize = 10 * width
    }

    @inline(__always)
    private static func mix(_ hash: UInt64, _ seed: UInt64) -> UInt64 {
        var x = (hash ^ seed) &* 0xBF58_476D_1CE4_E5B9
        x ^= x >> 31
        x = x &* 0x94D0_49BB_1331_11EB
        return x ^ (x >> 29)
    }

    @inline(__always)
    private func counterIndex(_ hash: UInt64, row: Int) -> Int {
        row &* width &+ Int(truncatingIfNeeded: Self.mix(hash, Self.seed(row))) & (width &- 1)
    }

    @inline(__always)
    private func counter(at index: Int) -> UInt64 {
        (counters[index >> 4] >> UInt64((index & 15) << 2)) & 0xF
    }

    private func doorkeeperBits(_ hash: UInt64) -> (Int, Int) {
        let h = Self.mix(hash, 0x2545_F491_4F6C_DD1D)
        return (Int(truncatingIfNeeded: h) & doorkeeperMask, Int(truncatingIfNeeded: h >> 32) & doorkeeperMask)
    }

    private func doorkeeperContains(_ hash: UInt64) -> Bool {
        let (a, b) = doorkeeperBits(hash)
        return doorkeeper[a >> 6] & (1 << UInt64(a & 63)) != 0 && doorkeeper[b >> 6] & (1 << UInt64(b & 63)) != 0
    }

    /// Estimated number of recent accesses of `hash` (0...16).
    func frequency(_ hash: UInt64) -> Int {
        var minimum: UInt64 = 15
        for row in 0..<Self.depth { minimum = min(minimum, counter(at: counterIndex(hash, row: row))) }
        return Int(minimum) + (doorkeeperContains(hash) ? 1 : 0)
    }

    /// Records one access. The first access only sets the doorkeeper, so one-hit wonders never
    /// reach the counters.
    mutating func increment(_ hash: UInt64) {
        if !doorkeeperContains(hash) {
            let (a, b) = doorkeeperBits(hash)
            doorkeeper[a >> 6] |= 1 << UInt64(a & 63)
            doorkeeper[b >> 6] |= 1 << UInt64(b & 63)
        } else {
            var indexes = (0, 0, 0, 0)
            indexes.0 = counterIndex(hash, row: 0)
            indexes.1 = counterIndex(hash, row: 1)
            indexes.2 = counterIndex(hash, row: 2)
            indexes.3 = counterIndex(hash, row: 3)
            let minimum = min(min(counter(at: indexes.0), counter(at: indexes.1)),
                              min(counter(at: indexes.2), counter(at: indexes.3)))
            guard minimum < 15 else { return }
            // Conservative update: raise only the counters at the minimum.
            raise(indexes.0, ifAt: minimum)
            raise(indexes.1, ifAt: minimum)
            raise(indexes.2, ifAt: minimum)
            raise(indexes.3, ifAt: minimum)
        }
        additions &+= 1
        if additions >= sampleSize { age() }
    }

    @inline(__always)
    private mutating func raise(_ index: Int, ifAt minimum: UInt64) {
        if counter(at: index) == minimum { counters[index >> 4] &+= 1 << UInt64((index & 15) << 2) }
    }

    /// Halves every counter and clears the doorkeeper.
    private mutating func age() {
        for i in counters.indices { counters[i] = (counters[i] >> 1) & 0x7777_7777_7777_7777 }
        for i in doorkeeper.indices { doorkeeper[i] = 0 }
        additions /= 2
    }
}

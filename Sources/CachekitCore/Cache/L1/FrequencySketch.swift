import Glibc

/// TinyLFU's popularity estimate: a count-min sketch of 4-bit counters (4 rows, conservative
/// update) behind a doorkeeper Bloom filter, halved every `sampleSize` additions so that old
/// popularity fades (Einziger, Friedman, Manes: "TinyLFU", 2017). Not thread-safe: each L1
/// shard owns one and uses it under its lock.
///
/// Every L1 hit increments it, so it is kept cheap: one mix of the key's hash gives the four
/// rows' counters by double hashing (Kirsch and Mitzenmacher 2006: a + i*b, as good as four
/// independent hashes for count-min and Bloom filters), another the doorkeeper's two bits, and
/// the words live in one malloc'd block (no array uniqueness or bounds checks per access; every
/// index is masked into range by construction).
struct FrequencySketch: ~Copyable {
    private let counters: UnsafeMutablePointer<UInt64>   // 16 four-bit counters per word, `depth` rows of `width`
    private let counterWords: Int
    private let doorkeeper: UnsafeMutablePointer<UInt64> // one bit per slot
    private let doorkeeperWords: Int
    private let width: Int           // counters per row, a power of two
    private let doorkeeperMask: Int
    private var additions = 0
    let sampleSize: Int
    /// How many times the sketch has aged: counters only fall when it ages, so a hash whose
    /// counters were all saturated in this epoch still is, and incrementing it changes nothing.
    private(set) var epoch: UInt32 = 0

    private static let depth = 4

    /// `expectedEntries`: about how many entries the owner holds; it sizes the sketch.
    init(expectedEntries: Int) {
        let entries = min(max(expectedEntries, 16), 1 << 20)  // at most 2 MiB of counters per sketch
        var width = 16
        while width < entries { width <<= 1 }
        self.width = width
        counterWords = (width * Self.depth) / 16
        doorkeeperWords = max(width / 64, 1)
        counters = .allocate(capacity: counterWords)
        counters.initialize(repeating: 0, count: counterWords)
        doorkeeper = .allocate(capacity: doorkeeperWords)
        doorkeeper.initialize(repeating: 0, count: doorkeeperWords)
        doorkeeperMask = doorkeeperWords * 64 - 1
        sampleSize = 10 * width
    }

    deinit {
        counters.deallocate()
        doorkeeper.deallocate()
    }

    @inline(__always)
    private static func mix(_ hash: UInt64, _ seed: UInt64) -> UInt64 {
        var x = (hash ^ seed) &* 0xBF58_476D_1CE4_E5B9
        x ^= x >> 31
        x = x &* 0x94D0_49BB_1331_11EB
        return x ^ (x >> 29)
    }

    /// The four counters' indexes: row i's is (a + i*b) mod width, b odd.
    @inline(__always)
    private func counterIndexes(_ hash: UInt64) -> (Int, Int, Int, Int) {
        let h = Self.mix(hash, 0x9E37_79B9_7F4A_7C15)
        let a = Int(truncatingIfNeeded: h), b = Int(truncatingIfNeeded: h >> 32) | 1
        let mask = width &- 1
        return (a & mask, width &+ ((a &+ b) & mask), 2 &* width &+ ((a &+ 2 &* b) & mask),
                3 &* width &+ ((a &+ 3 &* b) & mask))
    }

    @inline(__always)
    private func counter(at index: Int) -> UInt64 {
        (counters[index >> 4] >> UInt64((index & 15) << 2)) & 0xF
    }

    @inline(__always)
    private func doorkeeperBits(_ hash: UInt64) -> (Int, Int) {
        let h = Self.mix(hash, 0x2545_F491_4F6C_DD1D)
        return (Int(truncatingIfNeeded: h) & doorkeeperMask, Int(truncatingIfNeeded: h >> 32) & doorkeeperMask)
    }

    @inline(__always)
    private func doorkeeperContains(_ bits: (Int, Int)) -> Bool {
        doorkeeper[bits.0 >> 6] & (1 << UInt64(bits.0 & 63)) != 0 && doorkeeper[bits.1 >> 6] & (1 << UInt64(bits.1 & 63)) != 0
    }

    /// Estimated number of recent accesses of `hash` (0...16).
    func frequency(_ hash: UInt64) -> Int {
        let i = counterIndexes(hash)
        let minimum = min(min(counter(at: i.0), counter(at: i.1)), min(counter(at: i.2), counter(at: i.3)))
        return Int(minimum) + (doorkeeperContains(doorkeeperBits(hash)) ? 1 : 0)
    }

    /// Records one access. The first access only sets the doorkeeper, so one-hit wonders never
    /// reach the counters. Returns true when the hash's counters are saturated: until the sketch
    /// next ages (`epoch` changes) incrementing it again is a no-op the caller may skip.
    @discardableResult
    mutating func increment(_ hash: UInt64) -> Bool {
        let bits = doorkeeperBits(hash)
        if !doorkeeperContains(bits) {
            doorkeeper[bits.0 >> 6] |= 1 << UInt64(bits.0 & 63)
            doorkeeper[bits.1 >> 6] |= 1 << UInt64(bits.1 & 63)
        } else {
            let i = counterIndexes(hash)
            let minimum = min(min(counter(at: i.0), counter(at: i.1)), min(counter(at: i.2), counter(at: i.3)))
            guard minimum < 15 else { return true }
            // Conservative update: raise only the counters at the minimum.
            raise(i.0, ifAt: minimum)
            raise(i.1, ifAt: minimum)
            raise(i.2, ifAt: minimum)
            raise(i.3, ifAt: minimum)
        }
        additions &+= 1
        if additions >= sampleSize { age() }
        return false
    }

    @inline(__always)
    private func raise(_ index: Int, ifAt minimum: UInt64) {
        if counter(at: index) == minimum { counters[index >> 4] &+= 1 << UInt64((index & 15) << 2) }
    }

    /// Halves every counter and clears the doorkeeper.
    private mutating func age() {
        for i in 0..<counterWords { counters[i] = (counters[i] >> 1) & 0x7777_7777_7777_7777 }
        doorkeeper.update(repeating: 0, count: doorkeeperWords)
        additions /= 2
        epoch &+= 1
    }
}

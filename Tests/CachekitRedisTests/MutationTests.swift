import CachekitCore
import Testing
@testable import CachekitRedis

/// SplitMix64: a fixed-seed source, so a failure reproduces.
private struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

private func mutate(_ bytes: [UInt8], using random: inout SplitMix) -> [UInt8] {
    var out = bytes
    let alphabet = Array(":/@?&=#%[],+$*-\r\n0123456789abcAZ ".utf8) + [0, 0x7f, 0xff]
    for _ in 0..<Int.random(in: 1...4, using: &random) {
        let position = out.isEmpty ? 0 : Int.random(in: 0..<out.count, using: &random)
        switch Int.random(in: 0..<3, using: &random) {
        case 0 where !out.isEmpty: out.remove(at: position)
        case 1: out.insert(alphabet.randomElement(using: &random) ?? 0, at: position)
        default: if !out.isEmpty { out[position] = alphabet.randomElement(using: &random) ?? 0 }
        }
    }
    return out
}

/// Mutated inputs: every outcome is a value or one of the statuses the code promises, never a
/// trap. A small, deterministic stand-in for the libFuzzer harness (which covers only exports).
@Suite struct MutationTests {
    @Test func urlParserOnlyAcceptsOrRefuses() {
        var random = SplitMix(state: 10)
        let seeds = [
            "redis://u:p@h:6380/2?db=3", "rediss://:pw@[::1]:6390/0?ssl_cert_reqs=none&ssl_ca_certs=/ca",
            "unix://:pw@/tmp/r.sock?db=1", "redis+sentinel://a:1,b:2/master/3", "/tmp/sock",
        ]
        for _ in 0..<20_000 {
            let seed = Array((seeds.randomElement(using: &random) ?? "").utf8)
            let text = String(decoding: mutate(seed, using: &random), as: UTF8.self)
            do {
                let url = try RedisURL.parse(text)
                _ = url.redactedDescription
            } catch {
                #expect(error.status == .invalidConfig, "\(text.debugDescription): \(error)")
            }
        }
    }

    @Test func replyReaderOnlyDecodesOrRefuses() throws {
        var random = SplitMix(state: 11)
        let seed = Array("*3\r\n$3\r\nabc\r\n:-12\r\n*2\r\n+OK\r\n$-1\r\n-ERR x\r\n$0\r\n\r\n".utf8)
        let limits = ReplyLimits(maxBulkBytes: 64, maxArrayElements: 16, maxTotalBytes: 256)
        let allowed: Set<Status> = [.backendError, .replyTooLarge]
        for _ in 0..<5_000 {
            let wire = mutate(seed, using: &random)
            let reader = try ReplyReader()
            var offset = 0
            do {
                while offset < wire.count {
                    let end = min(wire.count, offset + Int.random(in: 1...9, using: &random))
                    try wire[offset..<end].withUnsafeBytes { raw in
                        try Result { () throws(CachekitError) in try reader.feed(raw, limits: limits) }.get()
                    }
                    while try reader.nextReply(answering: nil) != nil {}
                    offset = end
                }
            } catch let error as CachekitError {
                #expect(allowed.contains(error.status), "\(wire): \(error)")
            }
        }
    }
}

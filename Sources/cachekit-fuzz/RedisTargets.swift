import CachekitCore
@testable import CachekitRedis
import Glibc

// Targets over what a Redis server (or anyone who can PUBLISH) sends: RESP reply streams, the
// replies SCAN and the registry drain interpret, invalidation events, and the cache's read path
// with a hostile GET reply. Internal parsers are reached with @testable (scripts/fuzz.sh builds
// with -enable-testing).

/// The limits a call would pass; the first input byte picks one.
let replyLimitChoices: [ReplyLimits] = [
    .small, .value(maxValueSize: 256), .values(count: 4, maxValueSize: 64), .scanPage,
    .subscriberMessage(maxPayloadBytes: InvalidationEvent.maxEventBytes),
    ReplyLimits(maxBulkBytes: 8, maxArrayElements: 4, maxTotalBytes: 64),
]

/// What reading a stream gave: the replies in order, then either a refusal or the end of the input.
struct ReplyStreamOutcome {
    var replies: [RedisValue] = []
    var refusal: Status?
    var atBoundary = true
}

/// Feeds `stream` in the pieces `cuts` (ascending offsets) makes, taking every complete reply
/// after each piece, as RedisConnection does.
func readReplies(_ stream: UnsafeRawBufferPointer, cuts: [Int], limits: ReplyLimits) -> ReplyStreamOutcome {
    var outcome = ReplyStreamOutcome()
    guard let reader = try? ReplyReader() else { fatalError("could not create a reply reader") }
    var start = 0
    for end in cuts + [stream.count] where end >= start {
        do throws(CachekitError) {
            try reader.feed(UnsafeRawBufferPointer(rebasing: stream[start..<end]), limits: limits)
            while let reply = try reader.nextReply(answering: nil) { outcome.replies.append(reply) }
        } catch {
            outcome.refusal = error.status
            return outcome
        }
        start = end
    }
    outcome.atBoundary = reader.isAtReplyBoundary
    return outcome
}

/// Every bulk string and array in `value` within `limits`.
func withinLimits(_ value: RedisValue, _ limits: ReplyLimits) -> Bool {
    switch value {
    case .bulk(let bytes): return bytes.count <= limits.maxBulkBytes
    case .array(let elements): return elements.count <= limits.maxArrayElements && elements.allSatisfy { withinLimits($0, limits) }
    default: return true
    }
}

/// RESP streams under ReplyLimits: the first byte picks the limits, the rest is the stream. Read
/// one byte at a time, then whole, then cut at every offset (a few seeded cuts for long inputs):
/// every reading must decode the same replies or refuse with `.replyTooLarge`/`.backendError`
/// after a prefix of them, and nothing decoded may exceed the limits.
let respStreamTarget: FuzzTarget = { input in
    guard let first = input.first else { return }
    let limits = replyLimitChoices[Int(first) % replyLimitChoices.count]
    let stream = UnsafeRawBufferPointer(rebasing: input[1...])
    let finest = readReplies(stream, cuts: Array(0..<stream.count), limits: limits)
    var splits: [[Int]] = [[]]
    if stream.count <= 128 {
        splits += (1..<max(stream.count, 1)).map { [$0] }
    } else {
        var seed = UInt64(first) &* 0x9E37_79B9_7F4A_7C15 | 1
        for _ in 0..<8 {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            splits.append([Int(seed >> 33) % stream.count])
        }
        splits.append(Array(stride(from: 0, to: stream.count, by: 7)))
    }
    let promised: Set<Status> = [.replyTooLarge, .backendError]
    for cuts in splits {
        let outcome = readReplies(stream, cuts: cuts, limits: limits)
        if let refusal = outcome.refusal, !promised.contains(refusal) { fatalError("reply refused with \(refusal)") }
        // Which refusal comes first may change (the scanner runs ahead of hiredis's parser
        // within a piece), whether the stream is refused may not.
        if (outcome.refusal == nil) != (finest.refusal == nil) {
            fatalError("the split \(cuts) changed whether the stream is refused: \(String(describing: outcome.refusal)) against \(String(describing: finest.refusal)) byte by byte")
        }
        guard outcome.replies.count <= finest.replies.count,
              Array(finest.replies.prefix(outcome.replies.count)) == outcome.replies else {
            fatalError("the split \(cuts) decoded other replies")
        }
        if finest.refusal == nil, outcome.replies.count != finest.replies.count || outcome.atBoundary != finest.atBoundary {
            fatalError("the split \(cuts) lost a reply")
        }
    }
    if let refusal = finest.refusal, !promised.contains(refusal) { fatalError("reply refused with \(refusal)") }
    if !finest.replies.allSatisfy({ withinLimits($0, limits) }) { fatalError("a decoded reply exceeds its limits") }
}

/// The SCAN page and registry drain interpreters on whatever replies the stream decodes to,
/// under the limits those calls pass.
let scanAndDrainTarget: FuzzTarget = { input in
    let outcome = readReplies(input, cuts: [], limits: .scanPage)
    for reply in outcome.replies {
        if let page = RedisL2.scanPage(reply) {
            guard case .array(let parts) = reply, case .array(let found) = parts[1], page.keys.count <= found.count
            else { fatalError("a SCAN page has more keys than its reply") }
        }
        if let chunk = RedisL2.drainedMembers(reply) {
            if chunk.members.count > chunk.count || chunk.count > ReplyLimits.scanPage.maxArrayElements {
                fatalError("a drain chunk counts more members than its reply allows")
            }
        }
    }
}

/// Redis URLs: refused only with `.invalidConfig`; a parsed URL parses the same again and keeps
/// its port and database in range.
let redisURLTarget: FuzzTarget = { input in
    let first: RedisURL
    do throws(CachekitError) {
        first = try RedisURL.parse(bytes: input)
    } catch {
        if error.status != .invalidConfig { fatalError("URL refused with \(error.status)") }
        return
    }
    guard let again = try? RedisURL.parse(bytes: input), again.target == first.target,
          again.database == first.database, again.username == first.username else { fatalError("URL parsed differently twice") }
    let ports: [Int]
    switch first.target {
    case .tcp(let node): ports = [node.port]
    case .sentinel(let nodes, _): ports = nodes.map(\.port)
    case .cluster(let nodes): ports = nodes.map(\.port)
    case .unix: ports = []
    }
    if !ports.allSatisfy({ (0...65_535).contains($0) }) || first.database < 0 { fatalError("URL out of range") }
    _ = first.redactedDescription
}

/// Invalidation events: what decodes is within cachekit-py's caps and survives encode/decode.
let invalidationEventTarget: FuzzTarget = { input in
    guard let event = InvalidationEvent.decode(input) else { return }
    if event.registryId.count > InvalidationEvent.maxFieldBytes || (event.key?.count ?? 0) > InvalidationEvent.maxFieldBytes {
        fatalError("an event field over the cap decoded")
    }
    let encoded = event.key.map { key in key.withUnsafeBytes { InvalidationEvent.encode(registryId: event.registryId, key: $0) } }
        ?? InvalidationEvent.encode(registryId: event.registryId, key: nil)
    guard let encoded, let back = encoded.withUnsafeBytes({ InvalidationEvent.decode($0) }), back == event else {
        fatalError("an event did not survive encode and decode")
    }
}

/// A second tier that answers GET with the reply the fuzz input decodes to (the bytes a server
/// sent), so the cache's own read path (entry decode, frame, envelope, MessagePack checks)
/// meets them. Nothing else is called on a get.
final class ReplayedL2: L2Store, @unchecked Sendable {
    /// Set before each get; the harness runs one input at a time.
    var reply: RedisValue = .null

    func get(_ key: [UInt8]) throws(CachekitError) -> StoredValue? {
        try RedisL2.value(reply, "GET").map { StoredValue(bytes: $0, ttlMilliseconds: nil) }
    }
    func getWithTTL(_ key: [UInt8]) throws(CachekitError) -> StoredValue? { try get(key) }
    func getMany(_ keys: [[UInt8]], withTTL: Bool) throws(CachekitError) -> [StoredValue?] {
        var values: [StoredValue?] = []
        for key in keys { values.append(try get(key)) }
        return values
    }
    func set(_ key: [UInt8], _ value: UnsafeRawBufferPointer, ttlSeconds: Int) throws(CachekitError) {}
    func set(_ key: [UInt8], _ value: UnsafeRawBufferPointer, ttlSeconds: Int,
             tracking member: UnsafeRawBufferPointer, in set: [UInt8], setTTLSeconds: Int) throws(CachekitError) {}
    func delete(_ keys: [[UInt8]]) throws(CachekitError) -> Int { 0 }
    func exists(_ key: [UInt8]) throws(CachekitError) -> Bool { false }
    func deleteAll(withPrefix prefix: [UInt8]) throws(CachekitError) -> Int { 0 }
    func track(set: [UInt8], member: UnsafeRawBufferPointer, ttlSeconds: Int) throws(CachekitError) {}
    func drain(set: [UInt8], keyPrefix: [UInt8], popped: ([UInt8]) -> Void) throws(CachekitError) -> Bool { true }
    func unlink(_ keys: [[UInt8]]) throws(CachekitError) -> Int { 0 }
    func publish(channel: [UInt8], message: [UInt8]) throws(CachekitError) -> Int { 0 }
    func ping() throws(CachekitError) -> Int { 0 }
    var redactedDescription: String { "fuzz replay" }
}

/// One L1-less cache per mode (plain, minimal, interop) over the replaying tier.
let replayCaches: [(Cache, ReplayedL2)] = [CacheMode.plain, .minimal, .interop].compactMap { mode in
    var config = CacheConfig()
    config.mode = mode
    config.l1MaxBytes = 0
    config.l1MaxEntries = 0
    let tier = ReplayedL2()
    guard let cache = try? Cache(config: config, makeL2: { _ throws(CachekitError) in tier }) else { return nil }
    return (cache, tier)
}

/// The cache's read path: the first byte picks the mode, the rest is the server's GET reply.
/// A get either returns a value or refuses it with a status; a trap or sanitizer report is a crash.
let cacheReadTarget: FuzzTarget = { input in
    guard let first = input.first, !replayCaches.isEmpty else { return }
    let (cache, tier) = replayCaches[Int(first) % replayCaches.count]
    let outcome = readReplies(UnsafeRawBufferPointer(rebasing: input[1...]), cuts: [], limits: .value(maxValueSize: 8_192))
    for reply in outcome.replies.prefix(4) {
        tier.reply = reply
        let key: [UInt8] = Array("fuzz:key".utf8)
        key.withUnsafeBytes { bytes in
            do throws(CachekitError) { _ = try cache.get(bytes) } catch {}  // a refusal is an answer
        }
    }
}

/// A listening unix socket in the temporary folder that plays the server for `connectionReadTarget`:
/// the harness connects, accepts, writes the input as the server's replies and shuts its side
/// for writing, all on the one fuzzing thread (the kernel queues the connection and the bytes).
let replayServer: (path: String, descriptor: Int32)? = {
    let path = "/tmp/cachekit-fuzz-\(getpid()).sock"
    unlink(path)
    let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard descriptor >= 0 else { return nil }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
    withUnsafeMutableBytes(of: &address.sun_path) { raw in raw.copyBytes(from: bytes) }
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    guard bound == 0, listen(descriptor, 4) == 0 else { close(descriptor); return nil }
    atexit { unlink("/tmp/cachekit-fuzz-\(getpid()).sock") }
    return (path, descriptor)
}()

/// The connection's own read loop (socket reads, the header scanner, hiredis, the deadline):
/// the input is what the server sends in answer to a GET, read with the limits a GET passes
/// and up to three more replies read after it; each bulk reply then goes through the cache's
/// read path. Every failure must be a status, and the connection must then refuse reuse.
let connectionReadTarget: FuzzTarget = { input in
    guard let server = replayServer, let (cache, tier) = replayCaches.first else { return }
    let connection: RedisConnection
    do throws(CachekitError) {
        connection = try RedisConnection.open(RedisConnectionOptions(address: .unix(path: server.path)), deadline: .after(milliseconds: 1_000))
    } catch {
        fatalError("could not connect to the replay socket: \(error.message)")
    }
    let peer = accept(server.descriptor, nil, nil)
    guard peer >= 0 else { fatalError("could not accept on the replay socket") }
    defer { close(peer); connection.close() }
    var written = 0
    while written < input.count {
        let count = write(peer, input.baseAddress.map { $0 + written }, input.count - written)
        guard count > 0 else { fatalError("could not write the replies") }
        written += count
    }
    shutdown(peer, Int32(SHUT_WR))
    let limits = ReplyLimits.value(maxValueSize: 8_192)
    var replies: [RedisValue] = []
    do throws(CachekitError) {
        replies.append(try connection.call(["GET", "fuzz:key"], limits: limits, deadline: .after(milliseconds: 200)))
        for _ in 0..<3 {
            guard let reply = try connection.readReply(limits: limits, deadline: .after(milliseconds: 50)) else { break }
            replies.append(reply)
        }
    } catch {
        if connection.isReusable { fatalError("a failed read left the connection reusable: \(error.message)") }
    }
    if !replies.allSatisfy({ withinLimits($0, limits) }) { fatalError("a reply read exceeds its limits") }
    for reply in replies {
        tier.reply = reply
        Array("fuzz:key".utf8).withUnsafeBytes { bytes in
            do throws(CachekitError) { _ = try cache.get(bytes) } catch {}  // a refusal is an answer
        }
    }
}

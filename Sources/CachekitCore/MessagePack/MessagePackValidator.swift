/// Checks that bytes are exactly one MessagePack document that cachekit-py's reader decodes:
/// nesting at most 1024 levels (its MSGPACK_MAX_NESTING), valid UTF-8 strings, no trailing bytes,
/// timestamps (ext -1) of 4, 8 or 12 bytes, and map keys its unpacker accepts. Iterative and
/// allocation-light: one small frame per open container.
public enum MessagePackValidator {
    public static let maxNesting = 1024
    /// cachekit-py's interop reader refuses a map with more than 32 keys that are neither str nor bin.
    public static let maxNonStringKeys = 32

    public enum KeyRule: Sendable {
        /// Auto mode (msgpack strict_map_key=True): keys are str or bin.
        case stringOrBinary
        /// Interop mode (strict_map_key=False): any hashable key (not array/map), with the
        /// non-string key bound above.
        case hashable
    }

    private struct Frame {
        var remaining: Int      // items still to read (a map counts keys and values)
        let isMap: Bool
        let count: Int          // map entries
        var nonStringKeys: Int
    }

    public static func validate(
        _ bytes: UnsafeRawBufferPointer, keys: KeyRule = .stringOrBinary, depthLimit: Int = maxNesting
    ) throws(CachekitError) {
        var reader = MessagePackDecoder(bytes)
        // The innermost open container lives in `top` and its parents in `stack` (array traffic
        // only when a container opens or closes); the root is a one-item array that is no level.
        var stack: [Frame] = []
        var top = Frame(remaining: 1, isMap: false, count: 1, nonStringKeys: 0)
        repeat {
            let at = reader.offset
            if let range = reader.readShortString() {
                // A string is an acceptable map key under both rules: no key check.
                guard validUTF8(UnsafeRawBufferPointer(rebasing: bytes[range])) else {
                    throw CachekitError(.invalidUTF8, "MessagePack string at offset \(at) is not valid UTF-8")
                }
                top.remaining &-= 1
            } else {
                let token = try reader.next()
                if top.isMap, top.remaining % 2 == 0 { try checkKey(token, at: at, rule: keys, in: &top) }
                top.remaining &-= 1
                switch token {
                case .str(let range):
                    guard validUTF8(UnsafeRawBufferPointer(rebasing: bytes[range])) else {
                        throw CachekitError(.invalidUTF8, "MessagePack string at offset \(at) is not valid UTF-8")
                    }
                case .ext(let type, let range) where type == -1:
                    guard range.count == 4 || range.count == 8 || range.count == 12 else {
                        throw CachekitError(.invalidInput, "timestamp extension at offset \(at) has \(range.count) bytes")
                    }
                case .array(let count) where count > 0:
                    guard stack.count < depthLimit else { throw MessagePackValue.tooDeep(depthLimit) }
                    stack.append(top)
                    top = Frame(remaining: count, isMap: false, count: count, nonStringKeys: 0)
                case .map(let count) where count > 0:
                    guard stack.count < depthLimit else { throw MessagePackValue.tooDeep(depthLimit) }
                    stack.append(top)
                    top = Frame(remaining: count &* 2, isMap: true, count: count, nonStringKeys: 0)
                default: break
                }
            }
            while top.remaining == 0, let parent = stack.popLast() { top = parent }
        } while top.remaining > 0
        guard reader.isAtEnd else {
            throw CachekitError(.invalidInput, "\(reader.remaining) trailing bytes after the MessagePack document")
        }
    }

    /// A map key that is not a string: bin is accepted, containers never, anything else only
    /// under the hashable rule and within the non-string key bound.
    private static func checkKey(_ token: MessagePackToken, at: Int, rule: KeyRule, in top: inout Frame) throws(CachekitError) {
        switch token {
        case .str, .bin: return
        case .array, .map:
            throw CachekitError(.invalidMapKey, "map key at offset \(at) is an array or map")
        default:
            guard case .hashable = rule else {
                throw CachekitError(.invalidMapKey, "map key at offset \(at) is not a string")
            }
            top.nonStringKeys &+= 1
            if top.count > maxNonStringKeys && top.nonStringKeys > maxNonStringKeys {
                throw CachekitError(.invalidMapKey, "map with more than \(maxNonStringKeys) keys that are not strings")
            }
        }
    }
}

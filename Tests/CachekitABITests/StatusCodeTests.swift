import CachekitCore
import CCachekitHeader
import Foundation
import Testing

/// The status codes have one source, the header: every Swift status equals its CACHEKIT_E_*
/// macro, describes itself specifically, and no macro in the header lacks a Swift status.
@Suite struct StatusCodeTests {
    /// Every Swift status beside the header macro it must equal.
    static let pairs: [(Status, Int32, String)] = [
        (.ok, CACHEKIT_OK, "CACHEKIT_OK"),
        (.miss, CACHEKIT_MISS, "CACHEKIT_MISS"),
        (.stale, CACHEKIT_STALE, "CACHEKIT_STALE"),
        (.nullPointer, CACHEKIT_E_NULL_POINTER, "CACHEKIT_E_NULL_POINTER"),
        (.invalidArgument, CACHEKIT_E_INVALID_ARGUMENT, "CACHEKIT_E_INVALID_ARGUMENT"),
        (.bufferTooSmall, CACHEKIT_E_BUFFER_TOO_SMALL, "CACHEKIT_E_BUFFER_TOO_SMALL"),
        (.outOfMemory, CACHEKIT_E_OUT_OF_MEMORY, "CACHEKIT_E_OUT_OF_MEMORY"),
        (.`internal`, CACHEKIT_E_INTERNAL, "CACHEKIT_E_INTERNAL"),
        (.misuse, CACHEKIT_E_MISUSE, "CACHEKIT_E_MISUSE"),
        (.tooLarge, CACHEKIT_E_TOO_LARGE, "CACHEKIT_E_TOO_LARGE"),
        (.invalidInput, CACHEKIT_E_INVALID_INPUT, "CACHEKIT_E_INVALID_INPUT"),
        (.decompressionBomb, CACHEKIT_E_DECOMPRESSION_BOMB, "CACHEKIT_E_DECOMPRESSION_BOMB"),
        (.decompressionFailed, CACHEKIT_E_DECOMPRESSION_FAILED, "CACHEKIT_E_DECOMPRESSION_FAILED"),
        (.checksumMismatch, CACHEKIT_E_CHECKSUM_MISMATCH, "CACHEKIT_E_CHECKSUM_MISMATCH"),
        (.sizeValidation, CACHEKIT_E_SIZE_VALIDATION, "CACHEKIT_E_SIZE_VALIDATION"),
        (.compressionFailed, CACHEKIT_E_COMPRESSION_FAILED, "CACHEKIT_E_COMPRESSION_FAILED"),
        (.authenticationFailed, CACHEKIT_E_AUTHENTICATION_FAILED, "CACHEKIT_E_AUTHENTICATION_FAILED"),
        (.ciphertextTooShort, CACHEKIT_E_CIPHERTEXT_TOO_SHORT, "CACHEKIT_E_CIPHERTEXT_TOO_SHORT"),
        (.keyLength, CACHEKIT_E_KEY_LENGTH, "CACHEKIT_E_KEY_LENGTH"),
        (.invalidHex, CACHEKIT_E_INVALID_HEX, "CACHEKIT_E_INVALID_HEX"),
        (.nonceExhausted, CACHEKIT_E_NONCE_EXHAUSTED, "CACHEKIT_E_NONCE_EXHAUSTED"),
        (.domainLength, CACHEKIT_E_DOMAIN_LENGTH, "CACHEKIT_E_DOMAIN_LENGTH"),
        (.tenantLength, CACHEKIT_E_TENANT_LENGTH, "CACHEKIT_E_TENANT_LENGTH"),
        (.tooManyPreviousKeys, CACHEKIT_E_TOO_MANY_PREVIOUS_KEYS, "CACHEKIT_E_TOO_MANY_PREVIOUS_KEYS"),
        (.currentKeyRepeated, CACHEKIT_E_CURRENT_KEY_REPEATED, "CACHEKIT_E_CURRENT_KEY_REPEATED"),
        (.missingMasterKey, CACHEKIT_E_MISSING_MASTER_KEY, "CACHEKIT_E_MISSING_MASTER_KEY"),
        (.keyFingerprintMismatch, CACHEKIT_E_KEY_FINGERPRINT_MISMATCH, "CACHEKIT_E_KEY_FINGERPRINT_MISMATCH"),
        (.invalidFingerprint, CACHEKIT_E_INVALID_FINGERPRINT, "CACHEKIT_E_INVALID_FINGERPRINT"),
        (.randomFailed, CACHEKIT_E_RANDOM_FAILED, "CACHEKIT_E_RANDOM_FAILED"),
        (.nestingTooDeep, CACHEKIT_E_NESTING_TOO_DEEP, "CACHEKIT_E_NESTING_TOO_DEEP"),
        (.unsupportedValue, CACHEKIT_E_UNSUPPORTED_VALUE, "CACHEKIT_E_UNSUPPORTED_VALUE"),
        (.invalidUTF8, CACHEKIT_E_INVALID_UTF8, "CACHEKIT_E_INVALID_UTF8"),
        (.invalidMapKey, CACHEKIT_E_INVALID_MAP_KEY, "CACHEKIT_E_INVALID_MAP_KEY"),
        (.invalidSegment, CACHEKIT_E_INVALID_SEGMENT, "CACHEKIT_E_INVALID_SEGMENT"),
        (.writerState, CACHEKIT_E_WRITER_STATE, "CACHEKIT_E_WRITER_STATE"),
        (.typeMismatch, CACHEKIT_E_TYPE_MISMATCH, "CACHEKIT_E_TYPE_MISMATCH"),
        (.invalidFrame, CACHEKIT_E_INVALID_FRAME, "CACHEKIT_E_INVALID_FRAME"),
        (.unsupportedFrameVersion, CACHEKIT_E_UNSUPPORTED_FRAME_VERSION, "CACHEKIT_E_UNSUPPORTED_FRAME_VERSION"),
        (.invalidHeader, CACHEKIT_E_INVALID_HEADER, "CACHEKIT_E_INVALID_HEADER"),
        (.serializerMismatch, CACHEKIT_E_SERIALIZER_MISMATCH, "CACHEKIT_E_SERIALIZER_MISMATCH"),
        (.modeMismatch, CACHEKIT_E_MODE_MISMATCH, "CACHEKIT_E_MODE_MISMATCH"),
        (.notEncrypted, CACHEKIT_E_NOT_ENCRYPTED, "CACHEKIT_E_NOT_ENCRYPTED"),
        (.encryptedEntry, CACHEKIT_E_ENCRYPTED_ENTRY, "CACHEKIT_E_ENCRYPTED_ENTRY"),
        (.tenantMismatch, CACHEKIT_E_TENANT_MISMATCH, "CACHEKIT_E_TENANT_MISMATCH"),
        (.invalidValue, CACHEKIT_E_INVALID_VALUE, "CACHEKIT_E_INVALID_VALUE"),
        (.backendUnavailable, CACHEKIT_E_BACKEND_UNAVAILABLE, "CACHEKIT_E_BACKEND_UNAVAILABLE"),
        (.backendTimeout, CACHEKIT_E_BACKEND_TIMEOUT, "CACHEKIT_E_BACKEND_TIMEOUT"),
        (.backendError, CACHEKIT_E_BACKEND_ERROR, "CACHEKIT_E_BACKEND_ERROR"),
        (.valueTooLarge, CACHEKIT_E_VALUE_TOO_LARGE, "CACHEKIT_E_VALUE_TOO_LARGE"),
        (.invalidConfig, CACHEKIT_E_INVALID_CONFIG, "CACHEKIT_E_INVALID_CONFIG"),
        (.unknownOption, CACHEKIT_E_UNKNOWN_OPTION, "CACHEKIT_E_UNKNOWN_OPTION"),
        (.computeFailed, CACHEKIT_E_COMPUTE_FAILED, "CACHEKIT_E_COMPUTE_FAILED"),
        (.modeUnavailable, CACHEKIT_E_MODE_UNAVAILABLE, "CACHEKIT_E_MODE_UNAVAILABLE"),
        (.invalidKey, CACHEKIT_E_INVALID_KEY, "CACHEKIT_E_INVALID_KEY"),
        (.tls, CACHEKIT_E_TLS, "CACHEKIT_E_TLS"),
        (.backendOverloaded, CACHEKIT_E_BACKEND_OVERLOADED, "CACHEKIT_E_BACKEND_OVERLOADED"),
        (.circuitOpen, CACHEKIT_E_CIRCUIT_OPEN, "CACHEKIT_E_CIRCUIT_OPEN"),
        (.replyTooLarge, CACHEKIT_E_REPLY_TOO_LARGE, "CACHEKIT_E_REPLY_TOO_LARGE"),
        (.backendAuth, CACHEKIT_E_BACKEND_AUTH, "CACHEKIT_E_BACKEND_AUTH"),
        (.sweepIncomplete, CACHEKIT_E_SWEEP_INCOMPLETE, "CACHEKIT_E_SWEEP_INCOMPLETE"),
        (.poolTimeout, CACHEKIT_E_POOL_TIMEOUT, "CACHEKIT_E_POOL_TIMEOUT"),
    ]

    @Test func everySwiftStatusEqualsItsHeaderMacro() {
        for (status, macro, name) in Self.pairs {
            #expect(status.rawValue == macro, "\(name)")
        }
    }

    @Test func everyStatusHasItsOwnSpecificMessage() {
        var seen: [String: String] = [:]
        for (status, _, name) in Self.pairs {
            let message = status.description
            #expect(message != "unknown status" && !message.isEmpty, "\(name) has no message")
            #expect(seen[message] == nil, "\(name) shares its message with \(seen[message] ?? "")")
            seen[message] = name
        }
        #expect(Status(rawValue: -99).description == "unknown status")
    }

    /// Reads the header itself, so a macro added there without a Swift status fails here.
    @Test func noHeaderMacroLacksASwiftStatus() throws {
        let header = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("include/cachekit.h")
        let text = try String(contentsOf: header, encoding: .utf8)
        let pattern = try NSRegularExpression(pattern: #"#define (CACHEKIT_E_[A-Z0-9_]+) \((-?[0-9]+)\)"#)
        let matches = pattern.matches(in: text, range: NSRange(text.startIndex..., in: text))
        let known = Dictionary(uniqueKeysWithValues: Self.pairs.map { ($0.2, $0.0.rawValue) })
        #expect(matches.count >= 57)
        for match in matches {
            guard let nameRange = Range(match.range(at: 1), in: text), let valueRange = Range(match.range(at: 2), in: text) else {
                continue
            }
            let name = String(text[nameRange])
            #expect(known[name] == Int32(text[valueRange]), "\(name) has no Swift status of its value")
        }
        #expect(matches.count == Self.pairs.count - 3)  // all but CACHEKIT_OK, CACHEKIT_MISS and CACHEKIT_STALE
    }
}

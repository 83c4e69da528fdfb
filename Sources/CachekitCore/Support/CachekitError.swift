/// The one error type of the core. `message` is specific and never contains key material.
public struct CachekitError: Error, Sendable, CustomStringConvertible {
    public let status: Status
    public let message: String

    public init(_ status: Status, _ message: String) {
        self.status = status
        self.message = message
    }

    public var description: String { "\(status.description): \(message)" }
}

/// The spelling before the rename to the module's `Cachekit`, kept so branches written against
/// it still build; remove once they are merged.
public typealias CacheKitError = CachekitError

// Status codes -20 .. -39: the crypto section of include/cachekit.h.
extension Status {
    static func describeCrypto(_ status: Status) -> StaticString? {
        switch status {
        default: return nil
        }
    }
}

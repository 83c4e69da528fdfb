// Status codes -60 .. -79: the cache section of include/cachekit.h.
extension Status {
    static func describeCache(_ status: Status) -> StaticString? {
        switch status {
        default: return nil
        }
    }
}

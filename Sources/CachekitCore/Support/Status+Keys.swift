// Status codes -40 .. -59: the keys section of include/cachekit.h.
extension Status {
    static func describeKeys(_ status: Status) -> StaticString? {
        switch status {
        default: return nil
        }
    }
}

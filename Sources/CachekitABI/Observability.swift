import CachekitCore
import CCachekitHeader

// The observability section of include/cachekit.h: metrics text, the log hook, health v2.

/// A cache's text report (NUL-terminated UTF-8) into the caller's buffer.
private func deliverReport(_ cache: OpaquePointer?, _ out: UnsafeMutablePointer<cachekit_buffer>?,
                           _ report: (Cache) -> String) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        let object = try object(cache, as: Cache.self, "cache")
        try deliverString(report(object), to: try required(out, "out"))
        return .ok
    }
}

/// Exported to C as `cachekit_cache_metrics_text`.
@_cdecl("cachekit_cache_metrics_text") @implementation
public func cachekit_cache_metrics_text(_ cache: OpaquePointer?, _ out: UnsafeMutablePointer<cachekit_buffer>?) -> Int32 {
    deliverReport(cache, out) { $0.metricsText() }
}

/// Exported to C as `cachekit_cache_health_v2`.
@_cdecl("cachekit_cache_health_v2") @implementation
public func cachekit_cache_health_v2(_ cache: OpaquePointer?, _ out: UnsafeMutablePointer<cachekit_buffer>?) -> Int32 {
    deliverReport(cache, out) { $0.healthReportJSON() }
}

/// A host's handler and its userdata, called from any thread (the header says so).
private struct CHandler: @unchecked Sendable {
    let function: @convention(c) (UnsafeMutableRawPointer?, Int32, UnsafePointer<CChar>?,
                                  UnsafePointer<cachekit_log_field>?, Int) -> Void
    let userdata: UnsafeMutableRawPointer?

    /// Lays the event's strings out NUL-terminated in one buffer and points the fields into it.
    func deliver(_ event: LogEvent) {
        var text: [CChar] = []
        var offsets: [(name: Int, value: Int)] = []
        func append(_ string: String) -> Int {
            let start = text.count
            for byte in string.utf8 where byte != 0 { text.append(CChar(bitPattern: byte)) }
            text.append(0)
            return start
        }
        let eventOffset = append(event.name)
        for field in event.fields { offsets.append((append(field.name), append(field.value))) }
        text.withUnsafeBufferPointer { chars in
            guard let base = chars.baseAddress else { return }
            let fields = offsets.map { cachekit_log_field(name: base + $0.name, value: base + $0.value) }
            fields.withUnsafeBufferPointer { list in
                function(userdata, Int32(event.level.rawValue), base + eventOffset, list.baseAddress, list.count)
            }
        }
    }
}

/// Exported to C as `cachekit_set_log_handler`.
@_cdecl("cachekit_set_log_handler") @implementation
public func cachekit_set_log_handler(_ function: cachekit_log_fn?, _ userdata: UnsafeMutableRawPointer?, _ minLevel: Int32) -> Int32 {
    boundary { () throws(CachekitError) -> Status in
        guard let level = LogLevel(rawValue: Int(minLevel)) else {
            throw CachekitError(.invalidArgument, "min_level must be CACHEKIT_LOG_DEBUG, _INFO, _WARNING or _ERROR (10, 20, 30, 40)")
        }
        let handler = function.map { CHandler(function: $0, userdata: userdata) }
        let installed = LogHook.install(handler.map { handler in { @Sendable event in handler.deliver(event) } },
                                        minimumLevel: level)
        guard installed else {
            throw CachekitError(.misuse, "cachekit_set_log_handler was called from inside a log handler")
        }
        return .ok
    }
}

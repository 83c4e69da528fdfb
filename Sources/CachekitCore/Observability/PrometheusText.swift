/// A writer of the Prometheus text exposition format 0.0.4: each family's HELP and TYPE once,
/// then its samples. Label values are escaped as the format requires (backslash, quote,
/// newline); names are the caller's constants.
public struct PrometheusText: Sendable {
    public enum Kind: String, Sendable { case counter, gauge, histogram }
    public typealias Labels = [(name: String, value: String)]

    public private(set) var text = ""

    public init() {}

    public mutating func family(_ name: String, _ kind: Kind, _ help: String) {
        text += "# HELP \(name) \(Self.escapeHelp(help))\n# TYPE \(name) \(kind.rawValue)\n"
    }

    public mutating func sample(_ name: String, _ labels: Labels, _ value: Int) {
        text += "\(name)\(Self.render(labels)) \(value)\n"
    }

    public mutating func sample(_ name: String, _ labels: Labels, _ value: Double) {
        text += "\(name)\(Self.render(labels)) \(Self.number(value))\n"
    }

    /// One family with a single sample.
    public mutating func single(_ name: String, _ kind: Kind, _ help: String, _ labels: Labels, _ value: Int) {
        family(name, kind, help)
        sample(name, labels, value)
    }

    /// A histogram's series for one label set: cumulative buckets, +Inf, sum and count.
    public mutating func histogram(_ name: String, _ labels: Labels, _ histogram: StripedHistogram) {
        let snapshot = histogram.snapshot
        for (index, bound) in histogram.boundLabels.enumerated() where index < snapshot.cumulative.count {
            sample("\(name)_bucket", labels + [("le", bound)], snapshot.cumulative[index])
        }
        sample("\(name)_bucket", labels + [("le", "+Inf")], snapshot.count)
        sample("\(name)_sum", labels, snapshot.sum)
        sample("\(name)_count", labels, snapshot.count)
    }

    static func render(_ labels: Labels) -> String {
        guard !labels.isEmpty else { return "" }
        return "{" + labels.map { "\($0.name)=\"\(escapeLabel($0.value))\"" }.joined(separator: ",") + "}"
    }

    static func escapeLabel(_ value: String) -> String {
        var out = ""
        for character in value.unicodeScalars {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(character)
            }
        }
        return out
    }

    static func escapeHelp(_ value: String) -> String {
        value.replacingAll("\\", with: "\\\\").replacingAll("\n", with: "\\n")
    }

    /// Go's float formatting as the parsers accept it: integers without an exponent where exact.
    static func number(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        return "\(value)"
    }
}

extension String {
    func replacingAll(_ target: Character, with replacement: String) -> String {
        var out = ""
        for character in self {
            if character == target { out += replacement } else { out.append(character) }
        }
        return out
    }
}

extension JSONValue {
    /// A count or size as a JSON integer.
    public static func number(_ value: Int) -> JSONValue { .int(Int64(value)) }
}

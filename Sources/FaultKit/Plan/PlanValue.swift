import Foundation
import Yams

/// A YAML value with the place it came from: what plan readers walk, so every error can say
/// file:line:column. Engines read their `setup:` section through it.
public indirect enum PlanValue: Sendable, Hashable {
  case scalar(String, SourceLocation)
  case map([Entry], SourceLocation)
  case seq([PlanValue], SourceLocation)
  case null(SourceLocation)

  public struct Entry: Sendable, Hashable {
    public let key: String
    public let keyLocation: SourceLocation
    public let value: PlanValue
  }

  public var location: SourceLocation {
    switch self {
    case .scalar(_, let l), .map(_, let l), .seq(_, let l), .null(let l): l
    }
  }

  /// How this value reads in an error message ("a mapping", "'fsnyc'").
  public var found: String {
    switch self {
    case .scalar(let s, _): "'\(s)'"
    case .map: "a mapping"
    case .seq: "a list"
    case .null: "nothing"
    }
  }

  /// Parses YAML text into a located tree. Text over `PlanLimits.fileBytes`, anchors and
  /// aliases, strings over `PlanLimits.stringBytes` and nesting deeper than `PlanLimits.depth`
  /// are refused before anything is composed.
  /// - Throws: `PlanError` for YAML syntax errors and those limits, at the place in the text.
  public static func parse(_ text: String, file: String) throws -> PlanValue {
    let size = text.utf8.count
    guard size <= PlanLimits.fileBytes else {
      throw PlanError(
        SourceLocation(file: file, line: 1, column: 1), key: "",
        expected: "a plan of at most \(PlanLimits.fileBytes >> 20) MiB", found: "\(size) bytes")
    }
    try PlanLimits.checkEvents(text, file: file)
    let node: Node?
    do {
      node = try Yams.compose(yaml: text)
    } catch let e as YamlError {
      throw PlanError.yaml(e, file: file)
    }
    guard let node else {
      return .null(SourceLocation(file: file, line: 1, column: 1))
    }
    return try convert(node, file: file)
  }

  private static func loc(_ m: Mark?, _ file: String) -> SourceLocation {
    SourceLocation(file: file, line: m?.line ?? 1, column: m?.column ?? 1)
  }

  private static func convert(_ node: Node, file: String) throws -> PlanValue {
    switch node {
    case .scalar(let s):
      let l = loc(s.mark, file)
      if s.style == .plain && (s.string == "~" || s.string == "null" || s.string.isEmpty) { return .null(l) }
      return .scalar(s.string, l)
    case .sequence(let seq):
      return .seq(try seq.map { try convert($0, file: file) }, loc(seq.mark, file))
    case .mapping(let m):
      var entries: [Entry] = []
      var seen: [String: SourceLocation] = [:]
      for (k, v) in m {
        let kl = loc(k.mark, file)
        guard case .scalar(let ks) = k else {
          throw PlanError(kl, key: "", expected: "a plain key", found: "a complex key")
        }
        if let first = seen[ks.string] {
          throw PlanError(
            kl, key: ks.string, expected: "each key once", found: "a second '\(ks.string)' (first at \(first))")
        }
        seen[ks.string] = kl
        entries.append(Entry(key: ks.string, keyLocation: kl, value: try convert(v, file: file)))
      }
      return .map(entries, loc(m.mark, file))
    case .alias(let a):
      throw PlanError(loc(a.mark, file), key: "", expected: "a plain value", found: "a YAML alias")
    }
  }
}

extension PlanError {
  static func yaml(_ e: YamlError, file: String) -> PlanError {
    switch e {
    case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _):
      let what = [context?.text, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ", ")
      return PlanError(
        SourceLocation(file: file, line: mark.line, column: mark.column), key: "",
        expected: "well-formed YAML", found: what.isEmpty ? "a syntax error" : what)
    default:
      return PlanError(
        SourceLocation(file: file, line: 1, column: 1), key: "", expected: "well-formed YAML",
        found: "\(e)")
    }
  }
}

/// Reads one mapping of a plan: rejects unknown keys (with a did-you-mean), and reads values with
/// errors that name the key path and place.
public struct PlanMap: Sendable {
  public let path: String
  public let location: SourceLocation
  private let entries: [PlanValue.Entry]

  /// - Throws: `PlanError` when `value` is not a mapping or has a key outside `keys`.
  public init(_ value: PlanValue, path: String, keys: [String]) throws {
    guard case .map(let entries, let l) = value else {
      throw PlanError(
        value.location, key: path, expected: "a mapping with keys \(keys.joined(separator: ", "))", found: value.found)
    }
    for e in entries where !keys.contains(e.key) {
      throw PlanError(
        e.keyLocation, key: PlanMap.join(path, e.key),
        expected: "one of \(keys.joined(separator: ", "))", found: "unknown key '\(e.key)'",
        hint: DidYouMean.hint(e.key, among: keys))
    }
    self.path = path
    self.location = l
    self.entries = entries
  }

  static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }
  public func keyPath(_ key: String) -> String { PlanMap.join(path, key) }

  public var keys: [String] { entries.map(\.key) }
  public func has(_ key: String) -> Bool { entries.contains { $0.key == key } }
  public func value(_ key: String) -> PlanValue? {
    guard let v = entries.first(where: { $0.key == key })?.value else { return nil }
    if case .null = v { return nil }
    return v
  }
  public func keyLocation(_ key: String) -> SourceLocation {
    entries.first(where: { $0.key == key })?.keyLocation ?? location
  }

  public func require(_ key: String, _ expected: String) throws -> PlanValue {
    guard let v = value(key) else {
      throw PlanError(location, key: keyPath(key), expected: expected, found: "no '\(key)'")
    }
    return v
  }

  public func string(_ key: String) throws -> String? {
    try value(key).map { try $0.string(keyPath(key)) }
  }
  public func int(_ key: String, min: Int = Int.min, max: Int = Int.max) throws -> Int? {
    try value(key).map { try $0.int(keyPath(key), min: min, max: max) }
  }
  public func size(_ key: String) throws -> UInt64? {
    try value(key).map { try $0.size(keyPath(key)) }
  }
  public func bool(_ key: String) throws -> Bool? {
    try value(key).map { try $0.bool(keyPath(key)) }
  }
}

extension PlanValue {
  public func string(_ path: String) throws -> String {
    guard case .scalar(let s, _) = self else {
      throw PlanError(location, key: path, expected: "a string", found: found)
    }
    return s
  }

  public func int(_ path: String, min: Int = Int.min, max: Int = Int.max) throws -> Int {
    guard case .scalar(let s, _) = self, let n = Int(s.replacingOccurrences(of: "_", with: "")) ?? PlanValue.hexInt(s)
    else {
      throw PlanError(location, key: path, expected: "an integer", found: found)
    }
    guard n >= min && n <= max else {
      let range = max == Int.max ? "an integer ≥ \(min)" : "an integer in \(min)...\(max)"
      throw PlanError(location, key: path, expected: range, found: "\(n)")
    }
    return n
  }

  static func hexInt(_ s: String) -> Int? {
    guard s.hasPrefix("0x") || s.hasPrefix("0X") else { return nil }
    return Int(s.dropFirst(2), radix: 16)
  }

  /// A size: `4096`, `64KiB`, `1MiB`, `2GiB`, `16K` is not accepted (ambiguous), `4kib` is.
  public func size(_ path: String) throws -> UInt64 {
    guard case .scalar(let raw, _) = self, let n = PlanValue.parseSize(raw) else {
      var hint: String?
      if case .scalar(let raw, _) = self { hint = PlanValue.sizeHint(raw) }
      throw PlanError(
        location, key: path, expected: "a size in bytes (4096, 64KiB, 1MiB, 1GiB)", found: found, hint: hint)
    }
    return n
  }

  /// For a size written with a decimal or bare unit (`24KB`, `4k`, `1 MB`): the binary unit
  /// spelt as sizes are (`24KiB`), since a plan's sizes are whole pages and blocks.
  static func sizeHint(_ raw: String) -> String? {
    let s = raw.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "_", with: "")
    let digits = s.prefix { $0.isASCII && $0.isNumber }
    guard !digits.isEmpty, UInt64(digits) != nil else { return nil }
    let unit = s.dropFirst(digits.count).trimmingCharacters(in: .whitespaces).lowercased()
    let binary = ["k": "KiB", "kb": "KiB", "m": "MiB", "mb": "MiB", "g": "GiB", "gb": "GiB", "t": "TiB", "tb": "TiB"]
    guard let u = binary[unit] else { return nil }
    return "did you mean '\(digits)\(u)'? (sizes are binary: KiB, MiB, GiB)"
  }

  public static func parseSize(_ raw: String) -> UInt64? {
    let s = raw.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "_", with: "")
    let units: [(String, UInt64)] = [("kib", 1 << 10), ("mib", 1 << 20), ("gib", 1 << 30), ("tib", 1 << 40), ("b", 1)]
    let lower = s.lowercased()
    for (u, mult) in units where lower.hasSuffix(u) {
      let num = lower.dropLast(u.count).trimmingCharacters(in: .whitespaces)
      guard let n = UInt64(num) else { return nil }
      let (r, o) = n.multipliedReportingOverflow(by: mult)
      return o ? nil : r
    }
    if let n = UInt64(lower) { return n }
    if let h = hexInt(lower), h >= 0 { return UInt64(h) }
    return nil
  }

  public func bool(_ path: String) throws -> Bool {
    guard case .scalar(let s, _) = self, let b = ["true": true, "false": false, "yes": true, "no": false][s] else {
      throw PlanError(location, key: path, expected: "true or false", found: found)
    }
    return b
  }

  public func list(_ path: String) throws -> [PlanValue] {
    switch self {
    case .seq(let items, _): return items
    default: throw PlanError(location, key: path, expected: "a list", found: found)
    }
  }

  /// A list of strings, or a single string taken as a one-element list.
  public func strings(_ path: String) throws -> [String] {
    if case .scalar(let s, _) = self { return [s] }
    return try list(path).enumerated().map { try $1.string("\(path)[\($0)]") }
  }
}

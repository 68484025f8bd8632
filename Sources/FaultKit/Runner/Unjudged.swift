/// Something the oracles could not read or the harness could not interpret, at one moment of a
/// scenario: a snapshot that did not come back or did not decode, a snapshot that says what it
/// left out, findings that are not findings, an engine that threw something other than an errno.
/// A scenario with one is *unjudged*: never a pass, whatever else held. Its own result kind,
/// counted and shown in every report; a sweep with one exits non-zero.
public struct Unjudged: Sendable, Hashable, Codable, CustomStringConvertible {
  /// What could not be judged: the part of the signature unjudged scenarios are grouped by.
  public enum Kind: String, Sendable, Hashable, Codable, Comparable, CaseIterable {
    /// The engine's snapshot could not be read (NULL, not the common model, unknown keys).
    case snapshot
    /// The snapshot came back but says what it could not read (`unreadable`).
    case snapshotIncomplete = "snapshot-incomplete"
    /// The engine's stopped-state checks (`verify`) answered something that is not findings.
    case verify
    /// An operation, setup, recover, a worker or an oracle read ended with an error that is no
    /// errno (a Swift error of the engine's own, a bridge failure).
    case engineError = "engine-error"
    /// A replayed schedule diverged from the recorded one: this is not the scenario asked for.
    case schedule
    /// A fault a sweep placed at a hit of the recorded run never fired: the run diverged from
    /// the recording, so the placement was not tested.
    case placement

    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
  }

  public let kind: Kind
  /// When (`after setup`, `after writer op 2 (write)`, `at rest`, `verify`, `recover`).
  public let moment: String
  public let reason: String
  /// What the engine said, as it said it (escaped, at most `rawLimit` bytes), when it said something.
  public let raw: String?

  /// Raw bytes kept per record: enough to see what went wrong, bounded so a megabyte of garbage
  /// does not become a megabyte of results.
  public static let rawLimit = 2048

  public init(_ kind: Kind, moment: String, _ reason: String, raw: String? = nil) {
    self.kind = kind
    self.moment = moment
    self.reason = reason
    self.raw = raw
  }

  public init(_ kind: Kind, moment: String, _ reason: String, rawBytes: some Collection<UInt8>) {
    self.init(kind, moment: moment, reason, raw: Self.escape(rawBytes))
  }

  public var description: String {
    "\(kind.rawValue) (\(moment)): \(reason)" + (raw.map { "; raw: \($0)" } ?? "")
  }

  /// Bytes as printable text: ASCII as is, everything else `\xNN`; cut at `rawLimit` bytes with
  /// how many there were.
  public static func escape(_ bytes: some Collection<UInt8>) -> String {
    var out = ""
    var n = 0
    for b in bytes {
      if n == rawLimit {
        out += "… (\(bytes.count) bytes in all)"
        break
      }
      n += 1
      switch b {
      case 0x20..<0x7F where b != UInt8(ascii: "\\"): out.unicodeScalars.append(Unicode.Scalar(b))
      case UInt8(ascii: "\\"): out += "\\\\"
      case 0x0A: out += "\\n"
      default:
        let hex = String(b, radix: 16, uppercase: true)
        out += "\\x" + (hex.count == 1 ? "0" + hex : hex)
      }
    }
    return out
  }
}

/// What an engine throws when it cannot produce a state the oracles can read (a snapshot, its
/// findings): the reason and the bytes it had. The runner records it as `Unjudged`.
public struct UnreadableState: Error, Sendable, CustomStringConvertible {
  public let kind: Unjudged.Kind
  public let reason: String
  public let raw: String?
  public init(_ kind: Unjudged.Kind = .snapshot, _ reason: String, raw: String? = nil) {
    self.kind = kind
    self.reason = reason
    self.raw = raw
  }
  public init(_ kind: Unjudged.Kind = .snapshot, _ reason: String, rawBytes: some Collection<UInt8>) {
    self.init(kind, reason, raw: Unjudged.escape(rawBytes))
  }
  public var description: String { reason }

  func at(_ moment: String) -> Unjudged { Unjudged(kind, moment: moment, reason, raw: raw) }
}

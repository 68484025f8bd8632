import FaultKit

/// A space counter in bytes that never wraps or traps. Taking away more than it holds leaves it
/// at zero and records the attempt: an error path that returns a reservation twice is a finding
/// `space-balanced` reports (from the snapshot's `underflows`), not a crash of the engine that
/// takes the scenario with it. Adding past the top saturates and is recorded the same way.
public struct SpaceCounter: Sendable, Hashable, ExpressibleByIntegerLiteral, CustomStringConvertible {
  public private(set) var value: UInt64
  /// What went wrong, oldest first (`released 16KiB with 4KiB held`), at most `maxRecords`.
  public private(set) var underflows: [String] = []
  /// Records kept: the first ones tell the story; later ones only repeat it.
  public static let maxRecords = 8

  public init(_ value: UInt64) { self.value = value }
  public init(integerLiteral value: UInt64) { self.value = value }

  public var description: String { Size.format(value) }

  public static func += (c: inout SpaceCounter, n: UInt64) {
    let (sum, overflow) = c.value.addingReportingOverflow(n)
    if overflow {
      c.note("adding \(Size.format(n)) to \(Size.format(c.value)) overflowed")
      c.value = .max
    } else {
      c.value = sum
    }
  }

  public static func -= (c: inout SpaceCounter, n: UInt64) {
    if n > c.value {
      c.note("released \(Size.format(n)) with \(Size.format(c.value)) held")
      c.value = 0
    } else {
      c.value -= n
    }
  }

  private mutating func note(_ what: String) {
    if underflows.count < SpaceCounter.maxRecords { underflows.append(what) }
  }
}

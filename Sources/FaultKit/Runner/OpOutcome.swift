/// How one operation ended.
public struct OpOutcome: Sendable, Hashable, Codable, CustomStringConvertible {
  public enum Status: String, Sendable, Hashable, Codable {
    case ok, error, hung
    case notRun = "not-run"
    case stopped
    /// The engine ended the operation with something that is no errno: its outcome is unknown
    /// (the scenario is unjudged).
    case engineError = "engine-error"
    /// Not run: the machine lost power before it (a `crash` fault), as the plan asked.
    case powerCut = "power-cut"
  }
  public let status: Status
  public let errno: Errno?
  /// Set when the error was injected (or is the injected error handed on).
  public let injected: HitRef?

  public init(status: Status, errno: Errno? = nil, injected: HitRef? = nil) {
    self.status = status
    self.errno = errno
    self.injected = injected
  }
  public static let ok = OpOutcome(status: .ok)
  public static func error(_ e: FSError) -> OpOutcome {
    OpOutcome(status: .error, errno: e.errno, injected: e.injected)
  }

  public var description: String {
    switch status {
    case .ok: "ok"
    case .error: injected.map { "\(errno!.name) (injected at \($0))" } ?? "\(errno!.name)"
    case .hung: "hung"
    case .notRun: "not run"
    case .stopped: "stopped at the step bound"
    case .engineError: "engine error (no errno)"
    case .powerCut: "not run (the power was cut)"
    }
  }
}

/// An engine cut the machine's power after an operation (a `crash` fault fired): `outcome` is
/// how that operation ended. The plan's tasks stop; the filesystem comes back from the disk.
public struct PowerCut: Error, Sendable {
  public let outcome: OpOutcome
  /// A read that completed before the cut: its bytes (the data oracle checks them).
  public let returned: [UInt8]?
  public init(after outcome: OpOutcome, returned: [UInt8]? = nil) {
    self.outcome = outcome
    self.returned = returned
  }
}

/// The system under test. One instance lives for one scenario; its operations run inside
/// scheduler tasks and reach fault points and locks through its `Harness`.
public protocol Engine: AnyObject, Sendable {
  /// Builds the initial state the plan's `setup:` describes (mkfs, files). No fault fires here.
  func setup() async throws
  /// Runs one operation. Returns the bytes a read returned, nil for other operations.
  /// - Throws: `FSError` for the errno the operation returns; lets `ScenarioAbort` pass.
  func perform(_ op: Operation) async throws -> [UInt8]?
  /// The state now, in the common model, normalized. A snapshot that leaves something out says
  /// what in `Snapshot.unreadable`.
  /// - Throws: `UnreadableState` when the engine cannot say its state (an engine whose state
  ///   comes from elsewhere: a C library, a kernel); the scenario is then unjudged there.
  func snapshot() throws -> Snapshot
  /// Crash and come back: drop every in-memory structure, mount again from the device.
  func recover() async throws
  /// Checks that need the engine stopped (close the filesystem, run its fsck on the image),
  /// after the plan and before `recover`. Each finding is a violation of the invariant it names,
  /// which the engine declares. Only called when the descriptor says `verifies`.
  /// - Throws: `UnreadableState` when the checks ran but their answer cannot be read.
  func verify() async throws -> [Finding]
  /// The bytes of cached page `index` of `path`, as the page holds them (nil: not cached, or the
  /// engine has no page cache). With `blockBytes`, what the harness judges `pagecache-coherent`
  /// from: the engine says what it holds, the harness decides whether the two agree.
  func pageBytes(_ path: String, _ index: UInt64) -> [UInt8]?
  /// The bytes device block `block` holds, as they are (nil: the engine cannot say).
  func blockBytes(_ block: UInt64) -> [UInt8]?
}

extension Engine {
  public func verify() async throws -> [Finding] { [] }
  public func pageBytes(_ path: String, _ index: UInt64) -> [UInt8]? { nil }
  public func blockBytes(_ block: UInt64) -> [UInt8]? { nil }
}

/// What an engine's `verify` found wrong.
public struct Finding: Sendable, Hashable {
  public let invariant: InvariantName
  public let message: String
  public let evidence: [String]
  public init(invariant: InvariantName, message: String, evidence: [String] = []) {
    self.invariant = invariant
    self.message = message
    self.evidence = evidence
  }
}

/// A historical bug an engine can switch on.
public struct BugSwitch: Sendable, Hashable {
  public let name: String
  public let about: String
  public init(_ name: String, about: String) {
    self.name = name
    self.about = about
  }
}

/// An engine worker (I/O completion, fixup …): its task name and the work-item names it runs,
/// which fault filters (`task:`, `op:`) and preemptions may name.
public struct WorkerInfo: Sendable, Hashable {
  public let name: String
  public let ops: [String]
  public init(_ name: String, ops: [String]) {
    self.name = name
    self.ops = ops
  }
}

/// What an engine gets when it is built for a scenario.
public struct EngineContext: Sendable {
  public let setup: PlanValue?
  public let bugs: Set<String>
  public let harness: Harness
  public init(setup: PlanValue?, bugs: Set<String>, harness: Harness) {
    self.setup = setup
    self.bugs = bugs
    self.harness = harness
  }
}

/// An engine as the registry knows it: its name, catalog, operations, bug switches, invariants,
/// and how to check a setup section and build an instance.
public struct EngineDescriptor: Sendable {
  public let name: String
  public let about: String
  public let catalog: FaultCatalog
  public let operations: [OpKind]
  public let bugs: [BugSwitch]
  /// The workers the engine runs beside the plan's tasks.
  public let workers: [WorkerInfo]
  /// Every invariant this engine declares: the shared names it supports, then its own.
  public let invariants: [InvariantName]
  /// Checks the engine adds to the shared ones.
  public let ownInvariants: [any Invariant]
  /// Validates a plan's `setup:` section.
  public var checkSetup: @Sendable (PlanValue?) throws -> Void
  /// The largest file a (valid) setup's device holds, in bytes; nil when the engine does not
  /// say. The loader rejects an operation whose range ends past it, and the runner answers one
  /// with EFBIG or EINVAL without calling the engine (`OperationRange`).
  public var maxFileSize: @Sendable (PlanValue?) -> UInt64? = { _ in nil }
  /// The paths a (valid) setup makes, so the loader can say which operation works on a path
  /// nothing creates; nil when the engine does not say (nothing is checked).
  public var setupPaths: @Sendable (PlanValue?) -> [String]? = { _ in nil }
  /// The engine has checks to run stopped (`Engine.verify`).
  public var verifies = false
  /// Invariants whose violation is expected behaviour, not a bug (ext2fs: damage after a reported
  /// I/O error, which libext2fs cannot roll back). A sweep reports failures that violate only
  /// these separately and does not fail on them.
  public var expectedInvariants: Set<InvariantName> = []
  /// Writeback skips a page dirtied behind the filesystem's back until a fixup worker has
  /// reserved for it (btrfs's btrfs_writepage_cow_fixup: -EAGAIN, redirtied), so the flush before
  /// a direct read may leave such a page unwritten and the read returns the disk's older bytes
  /// there. The runner then snapshots around each direct read and the data oracle accepts older
  /// bytes for exactly those pages (`DataOracle.ReadWindow.awaitingFixup`).
  public var writebackSkipsPagesAwaitingFixup = false
  /// The same scenario always runs the same way: the engine's scheduling is ours (the model
  /// engines, libext2fs). An engine whose code schedules itself (a kernel) says false, and a sweep
  /// runs each of its failures again (`--reruns`) and reports how often it reproduced.
  public var deterministic = true
  /// What the engine's far side has for a plan's `setup:` (a kernel's options) and what that
  /// leaves unavailable; nil for engines that are all here.
  public var features: (@Sendable (PlanValue?) -> EngineFeatures?)?
  public let make: @Sendable (EngineContext) throws -> any Engine

  public init(
    name: String, about: String, catalog: FaultCatalog, operations: [OpKind], bugs: [BugSwitch],
    workers: [WorkerInfo] = [], invariants: [InvariantName], ownInvariants: [any Invariant] = [],
    checkSetup: @escaping @Sendable (PlanValue?) throws -> Void,
    maxFileSize: @escaping @Sendable (PlanValue?) -> UInt64? = { _ in nil },
    make: @escaping @Sendable (EngineContext) throws -> any Engine
  ) {
    self.maxFileSize = maxFileSize
    self.name = name
    self.about = about
    self.catalog = catalog
    self.operations = operations
    self.bugs = bugs
    self.workers = workers
    self.invariants = invariants
    self.ownInvariants = ownInvariants
    self.checkSetup = checkSetup
    self.make = make
  }

  /// The invariant checks for `names`: shared ones from FaultKit, then the engine's own.
  public func checks(for names: [InvariantName]) -> [any Invariant] {
    (SharedInvariants.all + ownInvariants).filter { names.contains($0.name) }
  }
}

/// Engines by name.
public struct EngineRegistry: Sendable {
  private var engines: [EngineDescriptor] = []
  public init(_ engines: [EngineDescriptor] = []) {
    for e in engines { register(e) }
  }
  public mutating func register(_ e: EngineDescriptor) {
    precondition(descriptor(named: e.name) == nil, "engine \(e.name) registered twice")
    engines.append(e)
    engines.sort { $0.name < $1.name }
  }
  public func descriptor(named name: String) -> EngineDescriptor? { engines.first { $0.name == name } }
  /// All engines, by name.
  public var all: [EngineDescriptor] { engines }
  public var names: [String] { engines.map(\.name) }
}

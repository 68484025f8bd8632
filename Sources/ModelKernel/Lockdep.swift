import FaultKit

/// A lock as lockdep's `held_locks` lists it: what it is, in which mode, taken by whom.
public struct HeldLock: Sendable, Hashable, CustomStringConvertible {
  public let kind: LockKind
  /// The locked object as snapshots name it: `/a` for i_rwsem, `/a invalidate_lock`; for a page,
  /// its file, with `index` the page (kept apart so taking a page lock makes no string).
  public let name: String
  public let index: UInt64?
  public let mode: LockMode
  public let holder: Holder
  /// `inode /a`, `rwsem /a invalidate_lock`, `page /a#3`.
  public var resource: String { index.map { "\(kind.rawValue) \(name)#\($0)" } ?? "\(kind.rawValue) \(name)" }
  public var description: String { mode == .shared ? "\(resource) (shared)" : resource }
  /// True for the lock of page `index` of `file`.
  public func isPage(_ file: String, _ index: UInt64) -> Bool {
    kind == .page && self.index == index && name == file
  }
}

/// A call an engine makes under a locking rule: the function, the file and the blocks it works
/// on, and why the engine made it (the caller, for the report).
public struct LockedCall: Sendable, Hashable {
  public let function: String
  public let file: String
  public let blocks: Range<UInt64>
  public let caller: String
  public init(_ function: String, file: String, blocks: Range<UInt64>, caller: String) {
    self.function = function
    self.file = file
    self.blocks = blocks
    self.caller = caller
  }
}

/// A locking rule, judged at the moment of each call from the locks the calling task holds as
/// ModelKernel's lock primitives recorded them, not from what the engine believes it holds.
public struct LockRule: Sendable {
  /// The invariant that reports a breach (the assertion's rule name).
  public let name: String
  /// What the call lacks, or nil when `held` satisfies the rule for it.
  public let breach: @Sendable (_ call: LockedCall, _ held: [HeldLock]) -> String?
  public init(name: String, breach: @escaping @Sendable (LockedCall, [HeldLock]) -> String?) {
    self.name = name
    self.breach = breach
  }
}

/// Lock tracking in the manner of lockdep: ModelKernel's rw-semaphores and page locks record here
/// who takes and releases them, so the locks a task holds are known without asking the engine,
/// and an unlock by a task that does not hold the lock (or of a lock nobody holds) is recorded as
/// a breach of `unlock-by-owner` (`Kernel.broken`) instead of passing silently or trapping.
public final class Lockdep: @unchecked Sendable {
  /// The rule every owner-checked unlock is judged by.
  public static let unlockByOwner = "unlock-by-owner"

  private unowned let kernel: Kernel
  /// Per task, its held locks in the order taken.
  private var held: [String: [HeldLock]] = [:]

  init(kernel: Kernel) { self.kernel = kernel }

  /// The running task took a lock (`index`: a page's index in file `name`).
  func acquired(_ kind: LockKind, _ name: String, index: UInt64? = nil, _ mode: LockMode) {
    let me = kernel.harness.holder
    held[me.task, default: []].append(HeldLock(kind: kind, name: name, index: index, mode: mode, holder: me))
  }

  /// `owner`'s hold of the lock ended (whoever released it).
  func released(_ kind: LockKind, _ name: String, index: UInt64? = nil, owner: String) {
    guard let i = held[owner]?.lastIndex(where: { $0.kind == kind && $0.index == index && $0.name == name }) else {
      return
    }
    held[owner]!.remove(at: i)
  }

  /// Records an unlock by a task that does not hold the lock. `owners` are its holders (empty:
  /// nobody held it).
  func badUnlock(_ function: String, _ kind: LockKind, _ object: String, owners: [Holder]) {
    let me = kernel.harness.holder
    let whose = owners.isEmpty ? "which nobody holds" : "held by \(owners.map(\.description).joined(separator: ", "))"
    kernel.report(Lockdep.unlockByOwner, "\(me): \(function) of \(kind.rawValue) \(object), \(whose)")
  }

  /// The locks `task` holds now, in the order taken.
  public func locks(heldBy task: String) -> [HeldLock] { held[task] ?? [] }

  /// Judges `call`, made now by the running task, by `rule`: a breach is recorded with the
  /// locks the task held.
  public func check(_ call: LockedCall, by rule: LockRule) {
    let me = kernel.harness.holder
    let mine = locks(heldBy: me.task)
    guard let why = rule.breach(call, mine) else { return }
    let blocks =
      call.blocks.count == 1
      ? "block \(call.blocks.lowerBound)" : "blocks \(call.blocks.lowerBound)-\(call.blocks.upperBound - 1)"
    let holding = mine.isEmpty ? "no lock" : mine.map(\.description).joined(separator: ", ")
    kernel.report(
      rule.name, "\(me): \(call.caller): \(call.function) \(call.file) \(blocks) holding \(holding): \(why)")
  }
}

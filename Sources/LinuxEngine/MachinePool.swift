import Foundation
import Synchronization

/// The machines of this process, idle between scenarios, by kernel and setup: a scenario takes
/// one at its golden point (booting one when none is idle) and gives it back when it ends. Booting
/// and making the golden image is the expensive part; a machine serves scenario after scenario
/// until it breaks (a hung task, a silent agent, a kernel that oopsed) or the pool is full.
public final class MachinePool: Sendable {
  public static let shared = MachinePool()

  /// Idle machines kept at most (each holds its guest's memory and a disk image).
  static let capacity = 3

  private let idle = Mutex<[LinuxMachine]>([])
  private let reusing = Mutex(true)

  /// Whether machines serve more than one scenario (false: a fresh boot for every scenario, what
  /// the benchmark compares reuse with).
  public var reuse: Bool {
    get { reusing.withLock { $0 } }
    set { reusing.withLock { $0 = newValue } }
  }
  private let stats = Mutex<(boots: Int, reuses: Int)>((0, 0))

  /// Boots and reuses so far (for benchmarks and tests).
  public var counts: (boots: Int, reuses: Int) { stats.withLock { $0 } }

  /// A machine for `setup` at its golden point.
  func take(kernel: LinuxKernel, setup: LinuxSetup) throws -> LinuxMachine {
    let found = idle.withLock { list -> LinuxMachine? in
      guard let i = list.firstIndex(where: { $0.kernel == kernel && $0.setup == setup }) else { return nil }
      return list.remove(at: i)
    }
    if let m = found {
      do {
        try m.rollBackToGolden()
        stats.withLock { $0.reuses += 1 }
        return m
      } catch {
        m.shutdown()
      }
    }
    let m = try LinuxMachine(kernel: kernel, setup: setup)
    stats.withLock { $0.boots += 1 }
    return m
  }

  /// Back from a scenario: kept for the next (rolled back when taken), or shut down when broken
  /// or when the pool is full (the oldest idle machine goes).
  func give(_ m: LinuxMachine) {
    if case .broken = m.state {
      m.shutdown()
      return
    }
    guard reuse else {
      m.shutdown()
      return
    }
    m.served += 1
    let evicted = idle.withLock { list -> LinuxMachine? in
      list.append(m)
      return list.count > Self.capacity ? list.removeFirst() : nil
    }
    evicted?.shutdown()
  }

  /// Shuts every idle machine down (at the end of a run).
  public func shutdownAll() {
    let all = idle.withLock { list -> [LinuxMachine] in
      defer { list = [] }
      return list
    }
    for m in all { m.shutdown() }
  }
}

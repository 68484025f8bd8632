/// Makes workloads for `faultline explore` in two phases. Systematic (CrashMonkey's ACE): every
/// template alone, then every sequence of 2 up to `length` operations over the profile's small
/// alphabet, each as one task and split over two tasks, each from every setup, in a fixed order
/// (shorter first, then lexicographic, the setup varying fastest, so a budget cut early still
/// starts from every setup). Every template alone from every setup first, so each operation's
/// own error paths are reached from every shape before any budget goes to sequences. Guided
/// (syzkaller): mutations of workloads that reached new coverage.
///
/// Deterministic: the systematic order is a function of the profile; a guided batch is a function
/// of the seed, the batch number, the parents (in the order given) and the workloads made before.
public struct WorkloadGenerator: Sendable {
  public let profile: ExploreProfile
  /// The longest systematic sequence.
  public let length: Int

  public init(profile: ExploreProfile, length: Int) {
    precondition(length >= 1, "a systematic length below 1")
    self.profile = profile
    self.length = min(length, profile.maxOps)
  }

  /// Ways a sequence of `n` operations is laid over tasks: one task, or (n ≥ 2, two tasks
  /// allowed) its first half and second half in two tasks.
  private func splits(_ n: Int) -> Int { n >= 2 && profile.maxTasks >= 2 ? 2 : 1 }

  /// Workloads in the systematic phase.
  public var systematicCount: Int {
    var total = 0
    for n in 1...length { total += sequences(n) * splits(n) * profile.setups.count }
    return total
  }

  /// The symbols sequences of `n` operations are made of: every template for one, the alphabet
  /// for more.
  private func symbols(_ n: Int) -> [Int] { n == 1 ? Array(profile.templates.indices) : profile.alphabet }

  /// Sequences of `n` operations.
  private func sequences(_ n: Int) -> Int {
    n == 1 ? profile.templates.count : (0..<n).reduce(1) { r, _ in r * profile.alphabet.count }
  }

  /// The `i`th systematic workload (0 ≤ i < `systematicCount`).
  public func systematic(_ i: Int) -> Workload {
    precondition(i >= 0 && i < systematicCount, "systematic index \(i) out of range")
    var rest = i
    for n in 1...length {
      let here = sequences(n) * splits(n) * profile.setups.count
      if rest >= here {
        rest -= here
        continue
      }
      let setup = rest % profile.setups.count
      rest /= profile.setups.count
      let split = rest % splits(n)
      var seq = rest / splits(n)
      let letters = symbols(n)
      var ops: [Int] = []
      for _ in 0..<n {
        ops.append(letters[seq % letters.count])
        seq /= letters.count
      }
      ops.reverse()
      let tasks = split == 0 ? [ops] : [Array(ops[..<(n / 2)]), Array(ops[(n / 2)...])]
      return Workload(setup: setup, tasks: tasks)
    }
    preconditionFailure("unreachable: the systematic index was checked")
  }

  /// A guided batch: up to `count` new workloads, each one to three mutations of a parent (and
  /// sometimes a splice with a second), none in `made`. Parents are picked uniformly from
  /// `parents`; with none, from the systematic alphabet's single operations.
  /// - Parameters:
  ///   - seed: the run's seed; `batch` the batch number (each batch draws from its own stream).
  ///   - made: every workload generated so far; the new ones are added.
  public func guided(count: Int, seed: UInt64, batch: Int, parents: [Workload], made: inout Set<Workload>)
    -> [Workload]
  {
    var rng = SplitMix64(seed: seed ^ (UInt64(batch) &* 0xD1B5_4A32_D192_ED03) ^ 0x5EED_0F_E4_7105)
    let pool =
      parents.isEmpty
      ? profile.alphabet.map { Workload(setup: 0, tasks: [[$0]]) } : parents
    var out: [Workload] = []
    // Bounded: a space nearly used up gives fewer than `count`, never a spin.
    var attempts = 0
    while out.count < count && attempts < count * 64 {
      attempts += 1
      var w = pool[pick(pool.count, &rng)]
      let rounds = 1 + pick(3, &rng)
      for _ in 0..<rounds { w = mutate(w, other: pool[pick(pool.count, &rng)], &rng) }
      guard profile.admits(w), !made.contains(w) else { continue }
      made.insert(w)
      out.append(w)
    }
    return out
  }

  private func pick(_ n: Int, _ rng: inout SplitMix64) -> Int { Int(rng.next() % UInt64(n)) }

  /// One mutation of `w`; the result may break the bounds (the caller checks).
  func mutate(_ w: Workload, other: Workload, _ rng: inout SplitMix64) -> Workload {
    var w = w
    let t = pick(w.tasks.count, &rng)
    let template = pick(profile.templates.count, &rng)
    switch pick(8, &rng) {
    case 0, 1:  // insert an operation
      w.tasks[t].insert(template, at: pick(w.tasks[t].count + 1, &rng))
    case 2:  // delete one
      if w.opCount > 1 {
        w.tasks[t].remove(at: pick(w.tasks[t].count, &rng))
        w.tasks.removeAll { $0.isEmpty }
      }
    case 3:  // replace one
      w.tasks[t][pick(w.tasks[t].count, &rng)] = template
    case 4:  // another starting state
      w.setup = pick(profile.setups.count, &rng)
    case 5:  // swap neighbours
      if w.tasks[t].count >= 2 {
        let k = pick(w.tasks[t].count - 1, &rng)
        w.tasks[t].swapAt(k, k + 1)
      }
    case 6:  // a second task from the tail of the first, or the two tasks as one
      if w.tasks.count == 1 && w.tasks[0].count >= 2 && profile.maxTasks >= 2 {
        let cut = 1 + pick(w.tasks[0].count - 1, &rng)
        w.tasks = [Array(w.tasks[0][..<cut]), Array(w.tasks[0][cut...])]
      } else if w.tasks.count == 2 {
        w.tasks = [w.tasks[0] + w.tasks[1]]
      } else if profile.maxTasks >= 2 {
        w.tasks.append([template])
      }
    default:  // splice: another workload's operations after these, in the last task
      let more = other.tasks.flatMap { $0 }
      let room = profile.maxOps - w.opCount
      if room > 0 { w.tasks[w.tasks.count - 1] += more.prefix(room) }
    }
    return w
  }
}

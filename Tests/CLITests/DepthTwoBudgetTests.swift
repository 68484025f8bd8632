import FaultKit
import Foundation
import Testing

/// A budgeted depth-2 sweep spends its budget on pairs, in every plan, in an order the outcomes
/// fix (not which worker finished first). Counts come from results.json, never from timing.
@Suite("depth 2 under a budget", .serialized)
struct DepthTwoBudgetTests {
  static let plans = ["Plans/btrfs/cow-enospc-second-iteration.yaml", "Plans/ext4/write-eio.yaml"]

  /// Each plan's name → (depth-1 scenarios, pairs) the sweep in `dir` ran, and every key.
  static func counts(_ dir: URL) throws -> (perPlan: [String: (Int, Int)], keys: Set<String>) {
    let results = try JSONDecoder().decode(
      RunResults.self, from: Data(contentsOf: dir.appendingPathComponent("results.json")))
    var perPlan: [String: (Int, Int)] = [:]
    var keys: Set<String> = []
    for p in results.plans {
      let pairs = p.scenarios.filter { $0.faults.count == 2 }.count
      perPlan[p.plan] = (p.scenarios.count - pairs, pairs)
      keys.formUnion(p.scenarios.map(\.key))
    }
    return (perPlan, keys)
  }

  @Test("--max-scenarios 40 at depth 2 over two plans: most of what runs is pairs, from both plans")
  func pairsFromBothPlans() throws {
    let dirs = try (1...2).map { try CLITests.scratch("depth2-budget-\($0)") }
    defer { for d in dirs { try? FileManager.default.removeItem(at: d) } }
    var seen: [Set<String>] = []
    for d in dirs {
      let r = try CLI.run(
        ["sweep"] + Self.plans + [
          "--depth", "2", "--max-scenarios", "40", "--jobs", "2", "--quiet", "--report-dir", d.path,
        ])
      #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
      let (perPlan, keys) = try Self.counts(d)
      let cow = try #require(perPlan["cow-enospc-second-iteration"])
      let eio = try #require(perPlan["write-eio"])
      #expect(cow.1 > 0 && eio.1 > 0, "pairs per plan: \(perPlan)")
      let ran = cow.0 + cow.1 + eio.0 + eio.1
      #expect(ran >= 40 && ran <= 41, "\(perPlan)")
      // Before, the first plan's depth-1 scenarios and their pairs took the whole budget.
      #expect(cow.1 + eio.1 >= ran / 2, "pairs \(cow.1 + eio.1) of \(ran)")
      seen.append(keys)
    }
    // Both runs are prefixes of one fixed order (the cut may take one in-flight scenario more).
    #expect(seen[0].isSubset(of: seen[1]) || seen[1].isSubset(of: seen[0]), "\(seen[0].symmetricDifference(seen[1]))")
  }
}

import FaultKit
import FaultlineEngines
import Foundation
import Testing

/// A sweep against the same scenarios placed and run one by one, on real engines: the sweep must
/// run every one of them (nothing pruned) and report exactly their failures, signature by
/// signature and scenario by scenario.
///
/// Sweeps pruned placements whose snapshot digest was equal until this test came; `FaultSpace`
/// says why a sound digest would never merge two placements of one run, so nothing is pruned now.
/// This test keeps it that way: a pruning that drops a scenario changes the count, one that loses
/// a failure changes the signatures.
///
/// CI runs a representative subset (one plan per engine, each with a historical bug switched on so
/// there are failures to lose; model engines at depth 2). `FAULTLINE_FULL_SWEEP_CHECK=1` runs
/// every plan in Plans/: model engines at depth 2 (about 950,000 scenarios each way: run it in
/// release, `FAULTLINE_FULL_SWEEP_CHECK=1 swift test -c release --filter SweepSpaceTests`), ext2fs
/// at depth 1 (its depth-2 spaces run e2fsck on millions of images).
@Suite("Sweeps run every placement")
struct SweepSpaceTests {
  static let full = ProcessInfo.processInfo.environment["FAULTLINE_FULL_SWEEP_CHECK"] == "1"

  static var cases: [SpaceCase] {
    if full {
      return Corpus.files.compactMap { f in
        guard let plan = try? Corpus.load(f) else { return nil }
        return SpaceCase(file: f, bugs: [], depth: plan.engine == "ext2fs" ? 1 : 2)
      }
    }
    let subset: [(String, [String], Int)] = [
      ("btrfs/cow-enospc-second-iteration.yaml", ["cow-error-leaves-pages-locked"], 2),
      ("xfs/short-write-unbacked-delalloc.yaml", ["short-write-leaves-unbacked-delalloc"], 2),
      ("ext4/map-blocks-unlocked-writeback.yaml", ["map-blocks-without-lock"], 2),
      ("ext2fs/xattrs.yaml", [], 1),
    ]
    return subset.compactMap { rel, bugs, depth in
      Corpus.files.first { $0.hasSuffix("Plans/" + rel) }.map { SpaceCase(file: $0, bugs: bugs, depth: depth) }
    }
  }

  @Test("the subset names plans that exist")
  func subsetFound() {
    #expect(Self.full || Self.cases.count == 4)
  }

  @Test("a sweep runs every placement one by one would, and finds exactly their failures", arguments: cases)
  func sweepEqualsOneByOne(c: SpaceCase) throws {
    let plan = try Corpus.load(c.file)
    var config = SweepConfig(plan: plan)
    config.depth = c.depth
    let report = try #require(
      try SweepDriver(registry: Corpus.registry).sweepInProcess([plan], configs: [config], bugs: c.bugs).first)

    // One by one, placed here and not by FaultSpace: the fault-free scenario, one fault at every
    // hit of the fault-free run, and (depth 2) a second at every hit of each one-fault run.
    let runner = ScenarioRunner(registry: Corpus.registry)
    let catalog = try #require(Corpus.registry.descriptor(named: plan.engine)).catalog
    var failures: [String: Int] = [:]
    var count = 0
    func record(_ r: ScenarioResult, _ placements: [Placement]) {
      count += 1
      if Sweeper.failed(r) { failures[Sweeper.signature(r, placements), default: 0] += 1 }
    }
    let options = { (faults: [Placement]) in RunOptions(bugs: c.bugs, faults: faults.map(\.spec)) }
    let (base, baseHits) = try runner.runRecordingHits(plan, options([]))
    record(base, [])
    for a in Self.placements(at: baseHits, catalog, config) {
      let (ra, hits) = try runner.runRecordingHits(plan, options([a]))
      record(ra, [a])
      guard c.depth >= 2 else { continue }
      // The second fault goes after the first fired (a fault before it would change the path
      // so the first may not fire); a persistent first already fails every later hit of its point.
      guard let at = hits.firstIndex(where: { $0.point == a.point && $0.hit == a.hit }) else { continue }
      let later = hits[(at + 1)...].filter { !(a.mode == .persistent && $0.point == a.point) }
      for b in Self.placements(at: Array(later), catalog, config) {
        record(try runner.run(plan, options([a, b])), [a, b])
      }
    }

    #expect(report.ran == count, "the sweep ran \(report.ran) scenarios; one by one there are \(count)")
    var swept: [String: Int] = [:]
    for f in report.failures { swept[f.signature] = f.count }
    #expect(swept == failures)
    if !c.bugs.isEmpty { #expect(!failures.isEmpty, "the bug switched on gives failures to compare") }
  }

  /// Every action (errno, mode) each hit's point declares and `config` admits; yield is a
  /// schedule choice, not a fault.
  static func placements(at hits: [Hit], _ catalog: FaultCatalog, _ config: SweepConfig) -> [Placement] {
    var out: [Placement] = []
    for h in hits {
      guard let point = catalog.points.first(where: { $0.name == h.point }),
        config.points.contains(where: { Glob.matches($0, h.point) })
      else { continue }
      var actions: [FaultAction] = []
      if point.actions.contains(.fail) && config.actions?.contains(.fail) ?? true {
        actions += point.errnos.filter { config.errnos?.contains($0) ?? true }.map { .fail($0) }
      }
      if point.actions.contains(.short) && config.actions?.contains(.short) ?? true {
        actions.append(.short(maxBytes: nil))
      }
      if point.actions.contains(.restart) && config.actions?.contains(.restart) ?? true { actions.append(.restart) }
      if point.actions.contains(.crash) && config.actions?.contains(.crash) ?? true { actions.append(.crash) }
      for a in actions {
        for m in config.modes where point.modes.contains(m) {
          out.append(Placement(point: h.point, hit: h.hit, action: a, mode: m))
        }
      }
    }
    return out
  }
}

struct SpaceCase: Sendable, CustomTestStringConvertible {
  let file: String
  let bugs: [String]
  let depth: Int
  var testDescription: String {
    "\(Corpus.short(file)) at depth \(depth)" + bugs.map { " --bug \($0)" }.joined()
  }
}

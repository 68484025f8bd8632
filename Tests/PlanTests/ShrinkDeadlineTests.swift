import FaultKit
import Foundation
import Testing

/// A budget bounds the report phase too: shrinking tries nothing after its deadline.
@Suite("shrinking stops at a deadline")
struct ShrinkDeadlineTests {
  @Test("past the deadline nothing is run: the plan comes back as found, marked unfinished")
  func deadline() throws {
    let plan = try Corpus.load(try #require(Corpus.files.first { $0.hasSuffix("btrfs/write-fsync.yaml") }))
    let bugs = ["cow-error-leaves-pages-locked"]
    let fault = Placement(point: "alloc.data", hit: 2, action: .fail(.noSpace), mode: .transient)
    let r = try ScenarioRunner(registry: Corpus.registry).run(plan, RunOptions(bugs: bugs, faults: [fault.spec]))
    let sig = Sweeper.signature(r, [fault])
    let shrinker = Shrinker(registry: Corpus.registry)
    let late = shrinker.shrink(plan, placements: [fault], bugs: bugs, signature: sig, deadline: 0)
    #expect(late.runs == 0)
    #expect(!late.finished)
    #expect(late.plan.tasks == plan.tasks)
    let far = DispatchTime.now().uptimeNanoseconds + 600_000_000_000
    let done = shrinker.shrink(plan, placements: [fault], bugs: bugs, signature: sig, deadline: far)
    #expect(done.finished && done.runs > 0)
    #expect(done.plan.tasks.flatMap(\.ops).map(\.kind) == [.write, .fsync])
  }
}

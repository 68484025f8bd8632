import Testing

@testable import FaultKit

@Suite("coverage: reached")
struct CoverageReachedTests {
  @Test("a point the fault-free runs never hit but a scenario fired at is not 'reached by no plan'")
  func firedIsReached() {
    let rows = [
      PointCoverage(point: "io.write", kind: .io, reached: 0, fired: 149, failed: 3),
      PointCoverage(point: "io.zeroout", kind: .io),
      PointCoverage(point: "alloc.data", kind: .allocator, reached: 2, fired: 2),
    ]
    let e = EngineResults(name: "ext2fs", points: [], coverage: rows)
    #expect(e.unreached == ["io.zeroout"])
  }
}

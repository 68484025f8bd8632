import Testing

@testable import FaultKit

@Suite("op errors in sweeps")
struct OpErrnosTests {
  let fsync = Operation(.fsync, path: "/a")
  let read = Operation(.read, path: "/a")

  @Test("an errno the system call never returns is a violation at once, injected or not")
  func invalidErrno() {
    let j = OpErrorJudge()
    j.ended(task: "t", index: 1, op: read, outcome: .error(FSError(.noSpace)), faultBefore: true)
    j.ended(task: "t", index: 2, op: fsync, outcome: .error(FSError(.exists)), faultBefore: true)
    j.ended(task: "t", index: 3, op: fsync, outcome: .error(FSError(.noSpace)), faultBefore: true)
    j.ended(
      task: "t", index: 4, op: Operation(.migratePage, path: "/a", offset: 0), outcome: .error(FSError(.noSpace)),
      faultBefore: false)
    #expect(
      j.judged { [] }.map(\.message) == [
        "t op 1 read returned ENOSPC, which read(2) never returns",
        "t op 2 fsync returned EEXIST, which fsync(2) never returns",
      ])
    #expect(j.violations.allSatisfy { $0.invariant == .opErrorsExplained })
  }

  @Test("a resource error needs a cause: the injection, an earlier fault, or the plan without faults")
  func causes() {
    let j = OpErrorJudge()
    j.ended(task: "t", index: 1, op: fsync, outcome: .error(FSError(.io)), faultBefore: false)
    j.ended(
      task: "t", index: 2, op: fsync, outcome: .error(FSError(.io, injected: HitRef(point: "io.write", hit: 1))),
      faultBefore: false)
    j.ended(task: "t", index: 3, op: fsync, outcome: .error(FSError(.noSpace)), faultBefore: true)
    j.ended(task: "t", index: 4, op: read, outcome: .error(FSError(.noEntry)), faultBefore: false)
    #expect(j.judged { nil }.isEmpty)
    #expect(j.judged { [.io] }.isEmpty)
    let v = j.judged { [.noSpace] }
    #expect(v.count == 1)
    #expect(v.first?.message.hasPrefix("t op 1 fsync returned EIO with no fault fired before it") == true)
  }

  @Test("an O_DIRECT read may fail with its write-back's ENOSPC; a buffered read may not")
  func directReadWriteBack() throws {
    #expect(try #require(OpErrnos.allowed(.dioRead)).isSuperset(of: [.noSpace, .quota, .io]))
    #expect(try #require(OpErrnos.allowed(.read)).isDisjoint(with: [.noSpace, .quota]))
  }
}

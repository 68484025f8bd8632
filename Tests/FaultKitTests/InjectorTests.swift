import Foundation
import Testing

@testable import FaultKit

@Suite("Injector and triggers")
struct InjectorTests {
  let catalog = FaultCatalog([
    FaultPoint("alloc.data", kind: .allocator, errnos: [.noSpace], about: "a"),
    FaultPoint("io.write", kind: .io, errnos: [.io], about: "b"),
  ])
  let alloc = FaultPointID(0)
  let io = FaultPointID(1)

  func fires(_ spec: FaultSpec, hits: Int, task: String = "t", op: String = "write") -> [Int] {
    let inj = Injector(catalog: catalog, faults: [spec])
    return (1...hits).filter { _ in inj.hit(alloc, task: task, op: op).fired }
  }

  @Test func nth() {
    #expect(fires(FaultSpec(point: "alloc.data", trigger: .nth(2), action: .fail(.noSpace)), hits: 5) == [2])
  }
  @Test func nthPersistent() {
    #expect(
      fires(FaultSpec(point: "alloc.data", trigger: .nth(2), mode: .persistent, action: .fail(.noSpace)), hits: 5) == [
        2, 3, 4, 5,
      ])
  }
  @Test func every() {
    #expect(fires(FaultSpec(point: "alloc.data", trigger: .every(2), action: .fail(.noSpace)), hits: 7) == [2, 4, 6])
  }
  @Test func afterTimes() {
    #expect(
      fires(FaultSpec(point: "alloc.data", trigger: .after(skip: 2, times: 2), action: .fail(.noSpace)), hits: 7) == [
        3, 4,
      ])
    #expect(
      fires(FaultSpec(point: "alloc.data", trigger: .after(skip: 5, times: nil), action: .fail(.noSpace)), hits: 7) == [
        6, 7,
      ])
  }
  @Test func probabilityIsSeeded() {
    let spec = FaultSpec(point: "alloc.data", trigger: .probability(0.5, seed: 7), action: .fail(.noSpace))
    let a = fires(spec, hits: 200)
    #expect(a == fires(spec, hits: 200))
    #expect(a.count > 60 && a.count < 140)
    let other = fires(
      FaultSpec(point: "alloc.data", trigger: .probability(0.5, seed: 8), action: .fail(.noSpace)), hits: 200)
    #expect(a != other)
  }
  @Test func filtersCountOnlyMatchingHits() {
    let inj = Injector(
      catalog: catalog,
      faults: [FaultSpec(point: "alloc.data", trigger: .nth(2), action: .fail(.noSpace), task: "w", op: "writeback")])
    #expect(!inj.hit(alloc, task: "w", op: "writeback").fired)  // 1st matching
    #expect(!inj.hit(alloc, task: "x", op: "writeback").fired)  // other task
    #expect(!inj.hit(alloc, task: "w", op: "fsync").fired)  // other op
    let d = inj.hit(alloc, task: "w", op: "writeback")  // 2nd matching, 4th overall
    guard case .fail(let e) = d else {
      Issue.record("expected a failure, got \(d)")
      return
    }
    #expect(e.errno == .noSpace)
    #expect(e.injected == HitRef(point: "alloc.data", hit: 4))
    #expect(inj.hits.map(\.hit) == [1, 2, 3, 4])
    #expect(inj.fired.count == 1 && inj.fired[0].fault == 0)
  }
  @Test func hitsCountedPerPoint() {
    let inj = Injector(catalog: catalog, faults: [])
    _ = inj.hit(alloc, task: "t", op: "o")
    _ = inj.hit(io, task: "t", op: "o")
    _ = inj.hit(alloc, task: "t", op: "o")
    #expect(inj.hits.map { "\($0.point)#\($0.hit)" } == ["alloc.data#1", "io.write#1", "alloc.data#2"])
  }
  @Test func actionsMapToDecisions() {
    let inj = Injector(
      catalog: catalog,
      faults: [
        FaultSpec(point: "alloc.data", trigger: .nth(1), action: .short(maxBytes: 8192)),
        FaultSpec(point: "alloc.data", trigger: .nth(2), action: .yield(to: "other")),
      ])
    #expect(inj.hit(alloc, task: "t", op: "o") == .short(maxBytes: 8192))
    #expect(inj.hit(alloc, task: "t", op: "o") == .yield(to: "other"))
  }
}

@Suite("Errno")
struct ErrnoTests {
  @Test func namesRoundTrip() throws {
    for e in Errno.named { #expect(Errno(name: e.name) == e) }
    #expect(Errno(name: "ENOSPCC") == nil)
    let data = try JSONEncoder().encode([Errno.noSpace])
    #expect(String(decoding: data, as: UTF8.self) == "[\"ENOSPC\"]")
    #expect(try JSONDecoder().decode([Errno].self, from: data) == [.noSpace])
    // A number without a name (what real code may return) round-trips as `E<n>`: a worker's
    // result carrying one must decode in the parent (an ext2fs sweep met EOVERFLOW's cousin).
    let odd = [Errno(rawValue: 133)]
    let written = try JSONEncoder().encode(odd)
    #expect(String(decoding: written, as: UTF8.self) == "[\"E133\"]")
    #expect(try JSONDecoder().decode([Errno].self, from: written) == odd)
    #expect(Errno(name: "EOVERFLOW") == Errno(rawValue: 75))
  }
  @Test func patternMatchesInjectedAndReal() {
    func classify(_ e: any Error) -> String {
      do { throw e } catch Errno.noSpace { return "nospace" } catch { return "other" }
    }
    #expect(classify(FSError(.noSpace, injected: HitRef(point: "alloc.data", hit: 2))) == "nospace")
    #expect(classify(Errno.noSpace) == "nospace")
    #expect(classify(FSError(.io)) == "other")
    #expect(
      "\(FSError(.noSpace, injected: HitRef(point: "alloc.data", hit: 2)))" == "ENOSPC (injected at alloc.data#2)")
    #expect("\(FSError(.noSpace))" == "ENOSPC")
  }
  @Test func globs() {
    #expect(Glob.matches("alloc.*", "alloc.data"))
    #expect(!Glob.matches("alloc.*", "reserve.data"))
    #expect(Glob.matches("*", "io.write"))
    #expect(Glob.matches("*.data", "reserve.data"))
    #expect(!Glob.matches("io.?", "io.write"))
  }
}

@Suite("Process tuning")
struct ProcessTuningTests {
  @Test("keeping the heap takes effect on glibc")
  func keepHeap() {
    #if canImport(Glibc)
      #expect(ProcessTuning.keepHeap())
    #endif
  }
}

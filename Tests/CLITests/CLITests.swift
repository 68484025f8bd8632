import Foundation
import Testing

/// Runs the built `faultline` binary the way a user does and checks exit statuses and output.
enum CLI {
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

  /// The binary next to the test bundle (`swift test` builds every product into one folder).
  static var binary: URL {
    get throws {
      let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
      let candidates = [
        here.appendingPathComponent("faultline"), root.appendingPathComponent(".build/debug/faultline"),
      ]
      guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
        throw CLIError(message: "faultline binary not found at \(candidates.map(\.path))")
      }
      return found
    }
  }

  struct Output {
    let status: Int32
    let stdout: String
    let stderr: String
  }

  static func run(_ args: [String]) throws -> Output {
    let p = Process()
    p.executableURL = try binary
    p.arguments = args
    p.currentDirectoryURL = root
    let out = Pipe()
    let err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return Output(
      status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
      stderr: String(decoding: e, as: UTF8.self))
  }
}

struct CLIError: Error, CustomStringConvertible {
  let message: String
  var description: String { message }
}

@Suite("faultline CLI")
struct CLITests {
  let seed = "Plans/btrfs/cow-enospc-second-iteration.yaml"

  @Test("the seed plan passes on the fixed engine: exit 0")
  func seedPasses() throws {
    let r = try CLI.run(["run", seed])
    #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
    #expect(r.stdout.contains("PASS cow-enospc-second-iteration"))
  }

  @Test("cow-error-leaves-pages-locked: exit 1, locks-released and no-hang, leaked page locks, the wait-for graph")
  func pagesLocked() throws {
    let r = try CLI.run(["run", seed, "--bug", "cow-error-leaves-pages-locked"])
    #expect(r.status == 1)
    let lines = r.stdout.split(separator: "\n").map(String.init)
    #expect(lines.first?.hasPrefix("FAIL cow-enospc-second-iteration") == true)
    #expect(lines.dropFirst().first == "violated: delalloc-backed, locks-released, no-hang")
    #expect(r.stdout.contains("locks-released (after writer op 2 (writeback) failed)"))
    #expect(r.stdout.contains("pages /a#1-3 locked: unlocked -> locked (holder: writer in writeback #2)"))
    #expect(r.stdout.contains("writer (in fsync #3) waits on page /a#1"))
    #expect(
      r.stdout.contains(
        "page /a#1 is held by writer in writeback #2: writer returned from writeback #2 without releasing it (self-deadlock)"
      ))
    // Order: invariant, then fault, then diff, then trace.
    let order = ["locks-released (", "fault: alloc.data#2 fail: ENOSPC", "diff at rest", "trace around the fault"].map {
      r.stdout.range(of: $0)?.lowerBound
    }
    #expect(order.allSatisfy { $0 != nil })
    #expect(zip(order, order.dropFirst()).allSatisfy { $0! < $1! })
  }

  @Test("cow-error-leaks-ordered-extents: exit 1 naming ordered-extents-complete")
  func orderedLeak() throws {
    let r = try CLI.run(["run", seed, "--bug", "cow-error-leaks-ordered-extents"])
    #expect(r.status == 1)
    #expect(r.stdout.contains("ordered-extents-complete (at rest): 1 ordered extent(s) never completed"))
    #expect(r.stdout.contains("waits on ordered extent /a [0, 16KiB)"))
  }

  @Test("validate: a misspelt key exits 2 with file:line:column and the near key")
  func misspeltKey() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("faultline-cli-\(getpid())")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let text = try String(contentsOf: CLI.root.appendingPathComponent(seed), encoding: .utf8)
      .replacingOccurrences(of: "\nfaults:", with: "\nfautls:")
    let bad = dir.appendingPathComponent("bad.yaml")
    try text.write(to: bad, atomically: true, encoding: .utf8)
    let line = text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.hasPrefix("fautls:") }! + 1
    let r = try CLI.run(["validate", bad.path])
    #expect(r.status == 2)
    #expect(r.stderr.contains("\(bad.path):\(line):1: error: fautls"))
    #expect(r.stderr.contains("did you mean 'faults'?"))
    #expect(r.stdout.isEmpty)
  }

  @Test("two runs with the same seed print byte-identical JSON")
  func jsonDeterministic() throws {
    let args = ["run", "Plans", "--seed", "17", "--format", "json"]
    let a = try CLI.run(args)
    let b = try CLI.run(args)
    #expect(a.status == 0)
    #expect(!a.stdout.isEmpty && a.stdout == b.stdout)
    let bugged = try CLI.run(["run", seed, "--bug", "cow-error-leaves-pages-locked", "--format", "json"])
    #expect(bugged.status == 1)
    #expect(
      bugged.stdout
        == (try CLI.run(["run", seed, "--bug", "cow-error-leaves-pages-locked", "--format", "json"])).stdout)
    let obj = try JSONSerialization.jsonObject(with: Data(bugged.stdout.utf8)) as? [[String: Any]]
    #expect(obj?.first?["stop"] as? String == "hang")
  }

  @Test("bad input exits 2: unknown bug, unknown engine filter, no arguments, missing file")
  func badInput() throws {
    let bug = try CLI.run(["run", seed, "--bug", "cow-error-leaves-page-locked"])
    #expect(bug.status == 2)
    #expect(bug.stderr.contains("did you mean 'cow-error-leaves-pages-locked'?"))
    #expect(try CLI.run(["points", "--engine", "btrfs-mdel"]).status == 2)
    #expect(try CLI.run(["run"]).status == 2)
    let missing = try CLI.run(["run", "Plans/nope.yaml"])
    #expect(missing.status == 2)
    #expect(missing.stderr.contains("Plans/nope.yaml:1:1"))
  }

  @Test("points and engines list the catalog")
  func catalog() throws {
    let r = try CLI.run(["points", "--engine", "btrfs-model"])
    #expect(r.status == 0)
    for p in ["alloc.data", "reserve.data", "reserve.metadata", "io.write", "txn.commit"] {
      #expect(r.stdout.contains(p))
    }
    #expect(r.stdout.contains("errnos: ENOSPC; actions: fail,short,yield"))
    let e = try CLI.run(["engines"])
    #expect(e.stdout.contains("cow-error-leaves-pages-locked"))
  }

  @Test("--schedules runs random schedules and reports each distinct failure once")
  func schedules() throws {
    let ok = try CLI.run(["run", "Plans/btrfs/two-writers-eio.yaml", "--schedules", "20"])
    #expect(ok.status == 0, "\(ok.stdout)")
    #expect(ok.stdout.contains("two-writers-eio: 20 schedules, 20 passed, 0 failed, 0 distinct failure(s)"))
    let bad = try CLI.run([
      "run", "Plans/btrfs/fixup-migration-window.yaml", "--bug", "fixup-page-cleaned-before-worker", "--schedules",
      "40",
    ])
    #expect(bad.status == 1)
    #expect(
      bad.stdout.components(separatedBy: "FAIL fixup-migration-window").count == 2, "one report per distinct failure")
    #expect(bad.stdout.contains("1 distinct failure(s)"))
    #expect(bad.stdout.contains("violated: data-durable, errors-reported"))
    #expect(try CLI.run(["run", "Plans", "--schedules", "0"]).status == 2)
  }

  @Test("FAULTLINE_TRACE streams the trace to standard error")
  func liveTrace() throws {
    let p = Process()
    p.executableURL = try CLI.binary
    p.arguments = ["run", seed]
    p.currentDirectoryURL = CLI.root
    p.environment = ["FAULTLINE_TRACE": "1"]
    let err = Pipe()
    p.standardError = err
    p.standardOutput = Pipe()
    try p.run()
    let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    #expect(e.contains("trace: writer: hit alloc.data#2 in writeback: fail: ENOSPC  <== injected"))
  }
}

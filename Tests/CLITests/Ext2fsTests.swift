import FaultKit
import Foundation
import Testing

/// The ext2fs engine (real libext2fs) end to end: plans pass as written, a sweep classifies what
/// e2fsck finds, the repro replays it, and the results are the same bytes with one job or two.
@Suite("ext2fs engine", .serialized)
struct Ext2fsTests {
  @Test("every ext2fs plan passes as written: no fault, e2fsck finds the image clean")
  func plansPass() throws {
    let r = try CLI.run(["run", "Plans/ext2fs"])
    #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
    #expect(r.stdout.contains("ext2fs-names-and-links") && r.stdout.contains(" passed, 0 failed"))
  }

  @Test("a sweep classifies e2fsck's verdict, its repro replays it, and one job or two give the same results")
  func sweepClassifiesAndReplays() throws {
    let a = try CLITests.scratch("ext2fs-a")
    let b = try CLITests.scratch("ext2fs-b")
    defer { for d in [a, b] { try? FileManager.default.removeItem(at: d) } }
    let plan = "Plans/ext2fs/xattrs.yaml"
    let r = try CLI.run(["sweep", plan, "--jobs", "2", "--quiet", "--report-dir", a.path])
    // Its one finding is damage after a reported I/O error: expected (libext2fs has no rollback),
    // reported apart, and not a failed sweep.
    #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
    #expect(r.stdout.contains("1 distinct failure(s) the engine calls expected behaviour, reported apart (not bugs):"))
    let results = try RunResults.read(a.appendingPathComponent("results.json"))
    let p = try #require(results.plans.first)
    #expect(p.ran > 20)
    // A persistent write error while setting a large xattr (it needs an xattr block) leaves the
    // block bitmap differing from what is in use: reported as damage after an I/O error.
    let f = try #require(p.failures.first { $0.invariants == ["io-error-damage"] }, "\(p.failures.map(\.signature))")
    #expect(f.expected)
    let junit = try String(contentsOf: a.appendingPathComponent("junit.xml"), encoding: .utf8)
    #expect(junit.contains("skipped=\"1\"") && junit.contains("<skipped message=\"expected: io-error-damage after"))
    #expect(f.result?.violations.first?.message.contains("e2fsck -fn exit 4") == true)
    #expect(f.result?.violations.first?.evidence.contains { $0.contains("Block bitmap differences") } == true)
    let replay = try CLI.run(["replay", a.appendingPathComponent(try #require(f.repro)).path])
    #expect(replay.status == 1 && replay.stdout.contains("violated: io-error-damage"), "\(replay.stdout)")
    // Coverage: the I/O points fired; the data allocator is not reached by xattrs.
    let cov = try #require(results.engines.first { $0.name == "ext2fs" })
    #expect(cov.coverage.first { $0.point == "io.write" }?.fired ?? 0 > 0)
    #expect(cov.unreached.contains("alloc.data"))
    _ = try CLI.run(["sweep", plan, "--jobs", "1", "--quiet", "--report-dir", b.path])
    #expect(
      try Data(contentsOf: a.appendingPathComponent("results.json"))
        == Data(contentsOf: b.appendingPathComponent("results.json")))
  }

  @Test("a bad ext2fs setup is exit 2 at the setup key")
  func badSetup() throws {
    let dir = try CLITests.scratch("ext2fs-bad")
    defer { try? FileManager.default.removeItem(at: dir) }
    let file = dir.appendingPathComponent("bad.yaml")
    try Data(
      """
      plan: bad
      engine: ext2fs
      setup: { size: 2MiB, block-size: 3000 }
      tasks: [ { name: a, ops: [ { fsync: { path: / } } ] } ]

      """.utf8
    ).write(to: file)
    let r = try CLI.run(["validate", file.path])
    #expect(r.status == 2)
    #expect(
      r.stderr.contains("bad.yaml:3:8") && r.stderr.contains("block-size: expected 1024, 2048 or 4096"), "\(r.stderr)")
  }
}

extension Ext2fsTests {
  @Test("a bug found in libext2fs is a failed sweep: a single read error in punch swallowed or mishandled")
  func punchFindsGenuineBugs() throws {
    let dir = try CLITests.scratch("ext2fs-punch")
    defer { try? FileManager.default.removeItem(at: dir) }
    // io.read faults on a punch through an indexed extent tree: mechanism A of
    // Plans/ext2fs/README.md (a failed ext2fs_extent_goto ignored, an index entry punched as data).
    let r = try CLI.run([
      "sweep", "Tests/Fixtures/ext2fs-punch.yaml", "--jobs", "2", "--quiet", "--report-dir", dir.path,
    ])
    #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
    let results = try RunResults.read(dir.appendingPathComponent("results.json"))
    let bugs = results.plans[0].failures.filter { !$0.expected }
    #expect(bugs.contains { $0.invariants.contains("in-memory-consistent") })
    #expect(bugs.contains { $0.invariants.contains("errors-not-swallowed") }, "\(bugs.map(\.signature))")
  }
}

extension Ext2fsTests {
  @Test("damage is excused only where the failed I/O explains it; in-use-and-free blocks never are")
  func expectedNeedsACause() throws {
    // mkdir's link into / fails writing the root directory's block. What follows from that
    // write (/d unconnected, the link counts) is excused, naming the block and its kind; the
    // cleanup's freeing of the inode and block that the inode on disk still claims is not.
    // Before, any damage after a reported I/O error was excused whole.
    let r = try CLI.run(["run", "Tests/Fixtures/ext2fs-mkdir-eio.yaml"])
    #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
    #expect(r.stdout.contains("violated: error-path-consistent, io-error-damage"), "\(r.stdout)")
    #expect(
      r.stdout.contains(
        "Block bitmap differences:  +39 Fix? no [not excused: never excused: blocks in use that the block bitmap has free"
      ),
      "\(r.stdout)")
    #expect(
      r.stdout.contains(
        "Unconnected directory inode 13 (was in /) Connect to /lost+found? no [explained: inode 13: io.write#5 failed block 19 (directory block of inode 2, file block 0), while linking or unlinking inode 13 in directory 2]"
      ), "\(r.stdout)")
    // The trace says which block, and what kind, the injected error hit, right after the hit.
    let json = try CLI.run(["run", "Tests/Fixtures/ext2fs-mkdir-eio.yaml", "--format", "json"])
    let lines = json.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
    let hit = try #require(lines.firstIndex(of: #""app: hit io.write#5 in mkdir: fail: EIO  <== injected","#))
    #expect(
      lines[hit + 1]
        == #""io.write#5 failed block 19 (directory block of inode 2, file block 0), while linking or unlinking inode 13 in directory 2","#
    )
  }
}

extension Ext2fsTests {
  @Test("a link, symlink or mkdir to a taken name is EEXIST and leaves the image clean")
  func nameTaken() throws {
    // Found by explore, fault-free: a second link to /l added a second entry named l; a second
    // slow symlink or mkdir left an unattached inode that the bitmap has free.
    let r = try CLI.run(["run", "Tests/Fixtures/ext2fs-name-taken.yaml"])
    #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
    #expect(r.stdout.contains("PASS ext2fs-name-taken-fixture"), "\(r.stdout)")
  }

  @Test("fallocate keep-size on a block-mapped file is EOPNOTSUPP, as ext4's, and leaves the image clean")
  func blockMappedKeepSize() throws {
    let r = try CLI.run(["run", "Tests/Fixtures/ext2fs-block-mapped-keep-size.yaml"])
    #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
    #expect(r.stdout.contains("PASS ext2fs-block-mapped-keep-size-fixture"), "\(r.stdout)")
  }

  @Test("libext2fs's EOVERFLOW from i_blocks it finds short is EUCLEAN, an errno truncate(2) may return")
  func iblocksUnderflowIsCorruption() throws {
    let r = try CLI.run(["run", "Tests/Fixtures/ext2fs-iblocks-underflow.yaml"])
    // The library's bug is still there (in-memory-consistent), but the errno is not the engine's.
    #expect(r.stdout.contains("in-memory-consistent"), "\(r.stdout)")
    #expect(!r.stdout.contains("op-errors-explained"), "\(r.stdout)")
    #expect(!r.stdout.contains("EOVERFLOW"), "\(r.stdout)")
  }
}

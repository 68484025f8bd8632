import Foundation
import Testing

/// The C ABI end to end: the example C engine built as a plugin, loaded with --engine-plugin,
/// run, swept in worker processes (which load it too), and the errors for plugins that are not.
@Suite("C engine plugins", .serialized)
struct PluginTests {
  /// Compiles C sources into a shared object with the toolchain's clang (or cc).
  static func compile(_ sources: [String], _ out: URL, defines: [String] = []) throws {
    let compiler = Tools.which("clang") ?? Tools.which("cc") ?? "cc"
    let r = try Tools.sh(
      [compiler, "-shared", "-fPIC", "-O1", "-I", CLI.root.appendingPathComponent("Sources/CFaultline/include").path]
        + defines + sources + ["-o", out.path])
    #expect(r.status == 0, "compiling \(sources): \(r.stderr)")
  }

  static let plans = "Examples/c-engine/plans"

  @Test("the example C engine runs its plan, its bugs are caught, and a sweep in workers passes")
  func toyEngine() throws {
    let dir = try CLITests.scratch("plugin")
    defer { try? FileManager.default.removeItem(at: dir) }
    let so = dir.appendingPathComponent("toy.so")
    try Self.compile([CLI.root.appendingPathComponent("Examples/c-engine/toy_engine.c").path], so)
    let plugin = ["--engine-plugin", so.path]
    let pass = try CLI.run(["run"] + plugin + [Self.plans])
    #expect(pass.status == 0, "\(pass.stdout)\(pass.stderr)")
    #expect(pass.stdout.contains("fired alloc.block#6 fail: ENOSPC, 4 invariants hold"))
    for (bug, invariant) in [
      ("write-error-keeps-inode-lock", "locks-released"), ("write-error-frees-mapped-blocks", "no-double-allocation"),
    ] {
      let r = try CLI.run(["run"] + plugin + [Self.plans, "--bug", bug])
      #expect(r.status == 1)
      #expect(r.stdout.contains("violated:") && r.stdout.contains(invariant), "\(bug): \(r.stdout)")
    }
    // The leaked inode lock shows in the lock diff with its holder, as a Swift engine's does.
    let leak = try CLI.run(["run"] + plugin + [Self.plans, "--bug", "write-error-keeps-inode-lock"])
    #expect(leak.stdout.contains("inode /a locked: unlocked -> locked (holder: app in write #3)"), "\(leak.stdout)")
    let sweep = try CLI.run(
      ["sweep"] + plugin + [Self.plans, "--jobs", "2", "--quiet", "--report-dir", dir.appendingPathComponent("s").path])
    #expect(sweep.status == 0, "\(sweep.stdout)\(sweep.stderr)")
    #expect(sweep.stdout.contains("coverage toy-c: 2 points declared, 2 reached, 2 fired"))
    let points = try CLI.run(["points"] + plugin + ["--engine", "toy-c"])
    #expect(points.stdout.contains("alloc.block") && points.stdout.contains("errnos: ENOSPC"))
  }

  /// Tests/Fixtures/misbehaving_engine.c built as a plugin: a C engine that breaks the ABI's
  /// promises in the way its plan's setup names (Tests/Fixtures/misbehaving/*.yaml).
  static func misbehaving(_ dir: URL) throws -> [String] {
    let so = dir.appendingPathComponent("misbehaving.so")
    try compile([CLI.root.appendingPathComponent("Tests/Fixtures/misbehaving_engine.c").path], so)
    return ["--engine-plugin", so.path]
  }

  @Test("a C engine whose create() returns NULL: a clear error naming the engine, exit 2, no crash")
  func createReturnsNull() throws {
    let dir = try CLITests.scratch("misbehaving-create")
    defer { try? FileManager.default.removeItem(at: dir) }
    let plugin = try Self.misbehaving(dir)
    // Before the fix, CEngine.init freed the fault context and its deinit freed it again: a
    // double free, the process killed by SIGABRT (status 134).
    let r = try CLI.run(["run"] + plugin + ["Tests/Fixtures/misbehaving/create-null.yaml"])
    #expect(r.status == 2, "\(r.stdout)\(r.stderr)")
    #expect(
      r.stderr.contains("engine misbehaving: refusing to create an instance (misbehave: create-null)"), "\(r.stderr)")
    #expect(!r.stdout.contains("PASS"))
    // A sweep's workers make instances too: the same clear error, no crashed scenarios.
    let sweep = try CLI.run(
      ["sweep"] + plugin + [
        "Tests/Fixtures/misbehaving/create-null.yaml", "--jobs", "2", "--quiet", "--report-dir",
        dir.appendingPathComponent("s").path,
      ])
    #expect(sweep.status == 2, "\(sweep.stdout)\(sweep.stderr)")
    #expect(sweep.stderr.contains("refusing to create an instance"), "\(sweep.stderr)")
  }

  /// What the harness could not read is never a pass: a NULL or malformed snapshot, a snapshot
  /// key faultline.h does not define, verify output that is not JSON. Each must end as an
  /// unjudged result, and a run with one exits non-zero.
  @Test(
    "a C engine whose snapshot or verify output cannot be read: the run does not pass",
    arguments: ["snapshot-null", "snapshot-invalid", "snapshot-unknown-key", "verify-invalid"])
  func unreadableOutputIsNeverAPass(_ misbehave: String) throws {
    let dir = try CLITests.scratch("misbehaving-\(misbehave)")
    defer { try? FileManager.default.removeItem(at: dir) }
    let plugin = try Self.misbehaving(dir)
    let plan = "Tests/Fixtures/misbehaving/\(misbehave).yaml"
    let r = try CLI.run(["run"] + plugin + [plan])
    let sweep = try CLI.run(
      ["sweep"] + plugin + [plan, "--jobs", "2", "--quiet", "--report-dir", dir.appendingPathComponent("s").path])
    // Each is unjudged: never PASS, and both the run and the sweep exit 1.
    #expect(!r.stdout.contains("PASS"), "\(r.stdout)")
    #expect(r.stdout.contains("UNJUDGED"), "\(r.stdout)")
    #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
    #expect(sweep.status == 1, "\(sweep.stdout)\(sweep.stderr)")
    // Exit 1 for that reason, not another: results.json counts unjudged scenarios.
    let results = dir.appendingPathComponent("s/results.json")
    let json = try JSONSerialization.jsonObject(with: Data(contentsOf: results)) as? [String: Any]
    let plans = json?["plans"] as? [[String: Any]] ?? []
    let groups = plans.flatMap { $0["failures"] as? [[String: Any]] ?? [] }
    #expect(!groups.isEmpty && groups.allSatisfy { $0["unjudged"] as? Bool == true }, "\(groups)")
  }

  @Test("a plugin that is missing, lacks the entry symbol or speaks another ABI: exit 2, saying which")
  func badPlugins() throws {
    let dir = try CLITests.scratch("bad-plugin")
    defer { try? FileManager.default.removeItem(at: dir) }
    let missing = try CLI.run(["engines", "--engine-plugin", dir.appendingPathComponent("nope.so").path])
    #expect(missing.status == 2 && missing.stderr.contains("nope.so: no such file"), "\(missing.stderr)")

    let empty = dir.appendingPathComponent("empty.c")
    try Data("int not_an_engine(void) { return 0; }\n".utf8).write(to: empty)
    let noSymbol = dir.appendingPathComponent("nosym.so")
    try Self.compile([empty.path], noSymbol)
    let r1 = try CLI.run(["engines", "--engine-plugin", noSymbol.path])
    #expect(r1.status == 2 && r1.stderr.contains("no symbol faultline_engine"), "\(r1.stderr)")

    let future = dir.appendingPathComponent("future.c")
    try Data(
      """
      #include "faultline.h"
      static const fl_engine e = { .abi_version = 99, .name = "future", .about = "from the future" };
      const fl_engine *faultline_engine(void) { return &e; }

      """.utf8
    ).write(to: future)
    let abi = dir.appendingPathComponent("future.so")
    try Self.compile([future.path], abi)
    let r2 = try CLI.run(["engines", "--engine-plugin", abi.path])
    #expect(r2.status == 2 && r2.stderr.contains("C ABI version 99; this faultline speaks 2"), "\(r2.stderr)")

    let garbage = dir.appendingPathComponent("garbage.so")
    try Data("not an ELF".utf8).write(to: garbage)
    let r3 = try CLI.run(["engines", "--engine-plugin", garbage.path])
    #expect(r3.status == 2 && r3.stderr.contains("garbage.so: cannot load"), "\(r3.stderr)")
  }

  @Test("a decision the C engine does not carry out (short at a point that calls fl_fail) is not counted as fired")
  func notHonoured() throws {
    let dir = try CLITests.scratch("not-honoured")
    defer { try? FileManager.default.removeItem(at: dir) }
    let src = dir.appendingPathComponent("liar.c")
    try Data(
      """
      #include <errno.h>
      #include <stdlib.h>
      #include <string.h>
      #include "faultline.h"
      static const int enospc[] = {ENOSPC};
      /* Declares short, but only ever calls fl_fail: a short placement does nothing here. */
      static const fl_point_def points[] = {
          {"alloc.block", FL_KIND_ALLOCATOR, enospc, 1, "the allocator", FL_ACTS_FAIL | FL_ACTS_SHORT}};
      static const char *const ops[] = {"write"};
      static int one;
      static void *create(const fl_ctx *ctx, const char *s, const char *const *b, int n, char *err, size_t len) {
        (void)s, (void)b, (void)n, (void)err, (void)len;
        return (void *)ctx;
      }
      static int setup(void *e) { (void)e; return 0; }
      static int perform(void *e, const char *op, fl_buf *out) { (void)op, (void)out; return fl_fail(e, 0); }
      static char *snapshot(void *e) { (void)e; return strdup("{}"); }
      static int recover(void *e) { (void)e; return 0; }
      static void destroy(void *e) { (void)e; }
      static const fl_engine engine = {.abi_version = FL_ABI_VERSION, .name = "liar", .about = "declares short",
        .points = points, .n_points = 1, .operations = ops, .n_operations = 1, .create = create, .setup = setup,
        .perform = perform, .snapshot = snapshot, .recover = recover, .destroy = destroy};
      const fl_engine *faultline_engine(void) { (void)one; return &engine; }

      """.utf8
    ).write(to: src)
    let so = dir.appendingPathComponent("liar.so")
    try Self.compile([src.path], so)
    let plan = dir.appendingPathComponent("short.yaml")
    try Data(
      """
      plan: liar-short
      engine: liar
      tasks:
        - name: app
          ops:
            - write: { path: /a, offset: 0, length: 4KiB }
            - write: { path: /a, offset: 4KiB, length: 4KiB }
      faults:
        - { at: alloc.block, nth: 1, short: 512 }

      """.utf8
    ).write(to: plan)
    let r = try CLI.run(["run", "--engine-plugin", so.path, plan.path])
    #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
    #expect(r.stdout.contains("never fired: fault 1 (at: alloc.block, nth: 1, short: 512)"), "\(r.stdout)")
    #expect(r.stdout.contains("short: 512 not honoured"), "\(r.stdout)")
    // Its points say what they honour: fail and short, never yield (a C operation is one step).
    let points = try CLI.run(["points", "--engine-plugin", so.path, "--engine", "liar"])
    #expect(points.stdout.contains("actions: fail,short"), "\(points.stdout)")
  }
}

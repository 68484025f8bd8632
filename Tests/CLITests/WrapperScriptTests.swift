import Foundation
import Testing

/// `scripts/faultline`, the README's first command, decides its set-up on a machine it is told
/// about: a copy of the script in a scratch tree whose PATH holds stand-ins for dpkg, apt-get, id,
/// swift and scripts/build-kernel that log what they were asked. No package is installed or
/// removed on this machine.
@Suite("scripts/faultline set-up")
struct WrapperScriptTests {
  /// A scratch tree with the script, the stand-ins and a stand-in faultline that logs its
  /// arguments and the kernel it was given, and exits with FAKE_STATUS.
  struct Scratch {
    let root: URL
    var log: URL { root.appendingPathComponent("calls.log") }

    init() throws {
      root = FileManager.default.temporaryDirectory.appendingPathComponent("wrapper-\(UUID().uuidString)")
      let fm = FileManager.default
      for d in ["bin", "scripts", ".build/release", ".build-cov/release", "plans/linux", "plans/models"] {
        try fm.createDirectory(at: root.appendingPathComponent(d), withIntermediateDirectories: true)
      }
      try fm.copyItem(
        at: CLI.root.appendingPathComponent("scripts/faultline"), to: root.appendingPathComponent("scripts/faultline"))
      // Only these programs are on PATH: no real dpkg, apt-get, sudo or swift.
      for tool in ["bash", "env", "dirname", "grep", "tail", "cat", "mkdir"] {
        let real = ["/usr/bin/\(tool)", "/bin/\(tool)"].first { fm.isExecutableFile(atPath: $0) }!
        try fm.createSymbolicLink(atPath: root.appendingPathComponent("bin/\(tool)").path, withDestinationPath: real)
      }
      let log = log.path
      try write(
        "bin/dpkg",
        "[ \"$1\" = -s ] || exit 2\ncase \" $FAKE_MISSING \" in *\" $2 \"*) exit 1 ;; esac\nexit 0")
      try write("bin/apt-get", "echo \"apt-get $*\" >>\(log)")
      try write("bin/id", "echo \"${FAKE_UID:-0}\"")
      try write("bin/swift", "echo \"swift $*\" >>\(log)")
      try write(
        "scripts/build-kernel",
        """
        if [ "${1:-}" = --print-path ]; then echo /cache/linux; [ -n "${FAKE_KERNEL_CACHED:-}" ]; exit; fi
        echo "build-kernel $*" >>\(log)
        echo built; echo /cache/linux
        """)
      try write(
        ".build/release/faultline",
        "echo \"faultline $* kernel=${FAULTLINE_KERNEL:-none}\" >>\(log)\necho \"faultline output\"\nexit ${FAKE_STATUS:-0}"
      )
      try write(
        ".build-cov/release/faultline",
        "echo \"coverage faultline $* profile=${LLVM_PROFILE_FILE:-unset}\" >>\(log)\nexit ${FAKE_STATUS:-0}")
      try "plan: l\nengine: linux\n".write(
        to: root.appendingPathComponent("plans/linux/l.yaml"), atomically: true, encoding: .utf8)
      try "plan: m\nengine: btrfs-model\n# engine: linux in a comment is no linux plan\n".write(
        to: root.appendingPathComponent("plans/models/m.yaml"), atomically: true, encoding: .utf8)
    }

    func write(_ path: String, _ body: String) throws {
      let url = root.appendingPathComponent(path)
      try ("#!/bin/sh\n" + body + "\n").write(to: url, atomically: true, encoding: .utf8)
      try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url.path)
    }

    /// Runs the script with `args` from the scratch root; the calls it made, in order.
    func run(_ args: [String], _ env: [String: String] = [:]) throws -> (out: CLI.Output, calls: [String]) {
      var environment = env
      environment["PATH"] = root.appendingPathComponent("bin").path
      environment["FAULTLINE_KERNEL"] = env["FAULTLINE_KERNEL"] ?? ""
      let out = try CLI.spawn(
        root.appendingPathComponent("bin/bash"), [root.appendingPathComponent("scripts/faultline").path] + args,
        environment: environment, directory: root)
      let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
      try? FileManager.default.removeItem(at: log)
      return (out, text.split(separator: "\n").map(String.init))
    }

    func remove() { try? FileManager.default.removeItem(at: root) }
  }

  @Test("everything installed: no apt-get, a release build, then faultline with the arguments and its exit status")
  func nothingMissing() throws {
    let s = try Scratch()
    defer { s.remove() }
    let (out, calls) = try s.run(["sweep", "plans/models", "--jobs", "2"], ["FAKE_STATUS": "1"])
    #expect(out.status == 1, "\(out.stderr)")
    #expect(out.stdout == "faultline output\n", "build messages go to standard error, not standard output")
    #expect(
      calls
        == ["faultline", "fl-agent", "FaultlineUbdShim"].map {
          "swift build -c release --product \($0) --package-path \(s.root.path)"
        } + ["faultline sweep plans/models --jobs 2 kernel=none"])
  }

  @Test(
    "--error-coverage: a release build with coverage counters in .build-cov, run from there, writing no default.profraw"
  )
  func errorCoverageBuild() throws {
    let s = try Scratch()
    defer { s.remove() }
    let (out, calls) = try s.run(["sweep", "plans/models", "--error-coverage"])
    #expect(out.status == 0, "\(out.stderr)")
    #expect(out.stderr.contains("with coverage counters"))
    #expect(
      calls
        == ["faultline", "fl-agent", "FaultlineUbdShim"].map {
          "swift build -c release --product \($0) --package-path \(s.root.path) --enable-code-coverage -Xcc -fprofile-instr-generate -Xcc -fcoverage-mapping --scratch-path \(s.root.path)/.build-cov"
        } + ["coverage faultline sweep plans/models --error-coverage profile=/dev/null"])
  }

  @Test("a missing package: apt-get update once, then install only what is missing")
  func installsMissing() throws {
    let s = try Scratch()
    defer { s.remove() }
    let (out, calls) = try s.run(["validate", "plans"], ["FAKE_MISSING": "libext2fs-dev xfsprogs"])
    #expect(out.status == 0, "\(out.stderr)")
    #expect(out.stderr.contains("installing libext2fs-dev xfsprogs"))
    #expect(calls.prefix(2) == ["apt-get update -qq", "apt-get install -y -qq libext2fs-dev xfsprogs"])
    #expect(calls.last == "faultline validate plans kernel=none")
  }

  @Test("not root and no sudo: exit 1 naming the apt-get command, nothing run")
  func notRoot() throws {
    let s = try Scratch()
    defer { s.remove() }
    let (out, calls) = try s.run(["sweep", "plans"], ["FAKE_MISSING": "e2fsprogs", "FAKE_UID": "1000"])
    #expect(out.status == 1)
    #expect(out.stderr.contains("as root: apt-get install e2fsprogs"), "\(out.stderr)")
    #expect(calls.isEmpty)
  }

  @Test("a linux plan among the arguments and no kernel: build-kernel builds one and faultline is given it")
  func buildsKernel() throws {
    let s = try Scratch()
    defer { s.remove() }
    let (out, calls) = try s.run(["sweep", "plans", "--jobs", "2"])
    #expect(out.status == 0, "\(out.stderr)")
    #expect(calls.first == "build-kernel ")
    #expect(calls.last == "faultline sweep plans --jobs 2 kernel=/cache/linux")
    // Faultline's own Plans/linux is recognised too.
    let own = try s.run(["run", CLI.root.appendingPathComponent("Plans/linux").path])
    #expect(own.calls.first == "build-kernel ")
  }

  @Test(
    "no kernel build: only model plans, a cached kernel, FAULTLINE_KERNEL, --kernel, or a command that runs nothing")
  func noKernelBuild() throws {
    let s = try Scratch()
    defer { s.remove() }
    let cases: [([String], [String: String])] = [
      (["sweep", "plans/models"], [:]),
      (["sweep", "plans"], ["FAKE_KERNEL_CACHED": "1"]),
      (["sweep", "plans"], ["FAULTLINE_KERNEL": "/mine/linux"]),
      (["run", "plans", "--kernel", "/mine/linux"], [:]),
      (["validate", "plans"], [:]),
    ]
    for (args, env) in cases {
      let (out, calls) = try s.run(args, env)
      #expect(out.status == 0, "\(args): \(out.stderr)")
      #expect(!calls.contains { $0.hasPrefix("build-kernel") }, "\(args) \(env): \(calls)")
    }
  }
}

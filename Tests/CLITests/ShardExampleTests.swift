import FaultKit
import Foundation
import Testing

/// The shard a sweep takes from its environment, and the examples in Examples/shards run as each
/// scheduler would run them: every shard under the variables that scheduler sets, then the merge,
/// which must equal the same sweep unsharded.
@Suite("shards from the environment and the scheduler examples")
struct ShardExampleTests {
  static let examples = CLI.root.appendingPathComponent("Examples/shards")
  /// Two small plans of two engines, copied into a scratch clone where the examples expect Plans/.
  static let plans = ["Plans/btrfs/cow-enospc-second-iteration.yaml", "Plans/xfs/writeback-eio.yaml"]

  static func scratch(_ name: String) throws -> URL {
    let d = FileManager.default.temporaryDirectory.appendingPathComponent("faultline-shards-\(name)-\(getpid())")
    try? FileManager.default.removeItem(at: d)
    try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
    return d
  }

  /// A folder like a clone the examples run in: `Plans/` with `plans` (and the other engine
  /// folders the examples name, empty), `bin/faultline` the binary under test.
  static func clone(_ dir: URL) throws {
    let fm = FileManager.default
    for engine in ["btrfs", "xfs", "ext4", "ext2fs"] {
      try fm.createDirectory(at: dir.appendingPathComponent("Plans/\(engine)"), withIntermediateDirectories: true)
    }
    for p in plans { try fm.copyItem(at: CLI.root.appendingPathComponent(p), to: dir.appendingPathComponent(p)) }
    try fm.createDirectory(at: dir.appendingPathComponent("bin"), withIntermediateDirectories: true)
    try fm.createSymbolicLink(at: dir.appendingPathComponent("bin/faultline"), withDestinationURL: try CLI.binary)
  }

  /// Runs `sh ARGS` in `dir` with exactly `env` (and a PATH that finds faultline): nothing of the
  /// test's own environment, so no shard variable of the machine running the tests leaks in.
  static func sh(_ args: [String], env: [String: String], in dir: URL) throws -> CLI.Output {
    var e = env
    e["PATH"] = try CLI.binary.deletingLastPathComponent().path + ":/usr/bin:/bin"
    e["HOME"] = dir.path
    return try CLI.spawn(URL(fileURLWithPath: "/bin/sh"), args, environment: e, directory: dir, inherit: false)
  }

  static func data(_ dir: URL, _ file: String) throws -> Data {
    try Data(contentsOf: dir.appendingPathComponent(file))
  }

  /// Each shard run took the shard it should and ran some of the space; the merge is complete and
  /// is, byte for byte, the unsharded run's results.
  static func checkMerge(shards: [(dir: URL, shard: Shard)], merged: URL, unsharded: URL) throws {
    for (dir, shard) in shards {
      let meta = try JSONDecoder().decode(SweepMeta.self, from: try data(dir, "meta.json"))
      #expect(meta.shard == shard, "\(dir.path)")
      let journal = String(decoding: try data(dir, "journal.jsonl"), as: UTF8.self)
      #expect(journal.split(separator: "\n").count > 1, "shard \(shard) ran no scenario: \(dir.path)")
    }
    let results = try RunResults.read(merged.appendingPathComponent("results.json"))
    #expect(results.complete)
    #expect(results.plans.map(\.file).sorted() == plans)
    #expect(try data(merged, "results.json") == data(unsharded, "results.json"))
  }

  // MARK: bad environments

  @Test(
    "a shard environment that names no shard is bad input, as --shard is: exit 2, naming it, nothing written",
    arguments: [
      (["FAULTLINE_SHARD": "5/2"], "FAULTLINE_SHARD=5/2: expected i/n"),
      (["JOB_COMPLETION_INDEX": "1"], "JOB_COMPLETION_INDEX=1: expected FAULTLINE_SHARD_COUNT"),
      (["JOB_COMPLETION_INDEX": "4", "FAULTLINE_SHARD_COUNT": "4"], "JOB_COMPLETION_INDEX=4: expected an index below"),
      (["FAULTLINE_SHARD_COUNT": "4"], "FAULTLINE_SHARD_COUNT=4: expected JOB_COMPLETION_INDEX"),
      (["SLURM_ARRAY_TASK_ID": "3"], "SLURM_ARRAY_TASK_ID=3: expected SLURM_ARRAY_TASK_COUNT"),
      // --array=1,4,9: a list, not a range.
      (
        [
          "SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_COUNT": "3", "SLURM_ARRAY_TASK_MIN": "1",
          "SLURM_ARRAY_TASK_MAX": "9", "SLURM_ARRAY_TASK_STEP": "1",
        ], "SLURM_ARRAY_TASK_MAX=9: expected 3"
      ),
    ])
  func badEnvironment(env: [String: String], message: String) throws {
    // The cases run in parallel: each in a folder of its own.
    let dir = try Self.scratch("bad-env-" + String(message.unicodeScalars.filter(\.properties.isAlphabetic).prefix(48)))
    defer { try? FileManager.default.removeItem(at: dir) }
    try Self.clone(dir)
    let r = try Self.sh(
      ["-c", "exec faultline sweep \(Self.plans[0]) --quiet --report-dir out"], env: env, in: dir)
    #expect(r.status == 2, "\(r.stdout)\(r.stderr)")
    #expect(r.stderr.contains(message), "\(r.stderr)")
    #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("out").path))
    // --shard names the shard itself: the environment is then not read.
    let given = try Self.sh(
      ["-c", "exec faultline sweep \(Self.plans[0]) --quiet --shard 0/1 --report-dir out"], env: env, in: dir)
    #expect(given.status == 0, "\(given.stdout)\(given.stderr)")
  }

  // MARK: Kubernetes

  /// A Job manifest's pod: its env (name → value) and its `sh -c` script.
  static func kubernetesPod(_ file: String) throws -> (job: PlanValue, env: [String: String], script: String) {
    let url = examples.appendingPathComponent(file)
    let job = try PlanValue.parse(String(contentsOf: url, encoding: .utf8), file: url.path)
    let container = try #require(job["spec", "template", "spec", "containers"]?[0])
    #expect(container["workingDir"]?.text == "/faultline")
    var env: [String: String] = [:]
    for e in container["env"]?.items ?? [] { env[try #require(e["name"]?.text)] = try #require(e["value"]?.text) }
    let command = try #require(container["command"]?.items).map(\.text)
    #expect(command.count == 3 && command[0] == "sh" && command[1] == "-c", "\(command)")
    return (job, env, try #require(command.last ?? nil))
  }

  @Test(
    "Examples/shards: a Kubernetes Indexed Job's pods, each with its JOB_COMPLETION_INDEX, merge into the unsharded sweep"
  )
  func kubernetesIndexedJob() throws {
    let dir = try Self.scratch("kubernetes")
    defer { try? FileManager.default.removeItem(at: dir) }
    try Self.clone(dir)
    let (job, env, script) = try Self.kubernetesPod("kubernetes-indexed-job.yaml")
    #expect(job["spec", "completionMode"]?.text == "Indexed")
    let completions = try #require(job["spec", "completions"]?.text.flatMap { Int($0) })
    // Kubernetes does not tell a pod the count: the manifest must say the same number twice.
    #expect(env["FAULTLINE_SHARD_COUNT"] == String(completions))
    #expect(env["FAULTLINE_REPORTS"] == "/reports")
    // The volume mounted at /reports is a folder of the scratch clone here.
    let reports = dir.appendingPathComponent("reports")
    var shards: [(dir: URL, shard: Shard)] = []
    for i in 0..<completions {
      var pod = env
      pod["FAULTLINE_REPORTS"] = reports.path
      pod["JOB_COMPLETION_INDEX"] = String(i)
      let r = try Self.sh(["-c", script], env: pod, in: dir)
      #expect(r.status == 0, "pod \(i): \(r.stdout)\(r.stderr)")
      shards.append((reports.appendingPathComponent("shard-\(i)"), Shard(index: i, count: completions)))
    }
    let (_, mergeEnv, mergeScript) = try Self.kubernetesPod("kubernetes-merge-job.yaml")
    var merge = mergeEnv
    merge["FAULTLINE_REPORTS"] = reports.path
    let m = try Self.sh(["-c", mergeScript], env: merge, in: dir)
    #expect(m.status == 0, "\(m.stdout)\(m.stderr)")
    // The same pod in a Job of one completion: the whole space, unsharded.
    var whole = env
    whole["FAULTLINE_REPORTS"] = dir.appendingPathComponent("unsharded").path
    whole["JOB_COMPLETION_INDEX"] = "0"
    whole["FAULTLINE_SHARD_COUNT"] = "1"
    let one = try Self.sh(["-c", script], env: whole, in: dir)
    #expect(one.status == 0, "\(one.stdout)\(one.stderr)")
    try Self.checkMerge(
      shards: shards, merged: reports.appendingPathComponent("merged"),
      unsharded: dir.appendingPathComponent("unsharded/shard-0"))
  }

  // MARK: Slurm

  /// The ids of `--array=SPEC`: `A-B[:S]` ranges and single ids, comma-separated (`%N` limits
  /// how many run at once and is dropped).
  static func slurmIDs(_ spec: String) throws -> [Int] {
    let list = spec.split(separator: "%").first.map(String.init) ?? spec
    var ids: [Int] = []
    for part in list.split(separator: ",") {
      let stepped = part.split(separator: ":")
      let step = try stepped.count == 2 ? #require(Int(stepped[1])) : 1
      let bounds = stepped[0].split(separator: "-")
      let first = try #require(Int(bounds[0]))
      let last = try bounds.count == 2 ? #require(Int(bounds[1])) : first
      ids += Array(stride(from: first, through: last, by: step))
    }
    return ids
  }

  /// What Slurm sets in the task of array job `job` whose id is `id`.
  static func slurmEnvironment(job: Int, id: Int, ids: [Int], step: Int, cpus: String) -> [String: String] {
    [
      "SLURM_JOB_ID": String(job + 1 + (ids.firstIndex(of: id) ?? 0)), "SLURM_ARRAY_JOB_ID": String(job),
      "SLURM_ARRAY_TASK_ID": String(id), "SLURM_ARRAY_TASK_COUNT": String(ids.count),
      "SLURM_ARRAY_TASK_MIN": String(ids.min() ?? 0), "SLURM_ARRAY_TASK_MAX": String(ids.max() ?? 0),
      "SLURM_ARRAY_TASK_STEP": String(step), "SLURM_CPUS_PER_TASK": cpus, "SLURM_SUBMIT_DIR": "",
    ]
  }

  /// Runs slurm-array.sbatch as Slurm would for `--array=spec` (the file's own when nil), then
  /// slurm-merge.sbatch as its dependency, and checks the merge against the unsharded sweep.
  static func slurmArray(spec override: String?, in dir: URL) throws {
    let script = examples.appendingPathComponent("slurm-array.sbatch")
    let text = try String(contentsOf: script, encoding: .utf8)
    func directive(_ name: String) -> String? {
      text.split(separator: "\n").lazy.compactMap { line -> String? in
        let prefix = "#SBATCH --\(name)="
        return line.hasPrefix(prefix) ? String(line.dropFirst(prefix.count)) : nil
      }.first
    }
    let spec = try override ?? #require(directive("array"))
    let ids = try slurmIDs(spec)
    let step = spec.split(separator: "%")[0].split(separator: ":").dropFirst().first.flatMap { Int($0) } ?? 1
    let cpus = directive("cpus-per-task") ?? "1"
    let job = 4242
    var shards: [(dir: URL, shard: Shard)] = []
    for (k, id) in ids.enumerated() {
      var env = slurmEnvironment(job: job, id: id, ids: ids, step: step, cpus: cpus)
      env["FAULTLINE"] = "bin/faultline"
      let r = try sh([script.path], env: env, in: dir)
      #expect(r.status == 0, "--array=\(spec) task \(id): \(r.stdout)\(r.stderr)")
      shards.append((dir.appendingPathComponent("Reports/slurm-\(job)/shard-\(id)"), Shard(index: k, count: ids.count)))
    }
    // sbatch --dependency=afterok:$job --export=ALL,FAULTLINE_REPORTS=Reports/slurm-$job slurm-merge.sbatch
    let m = try sh(
      [examples.appendingPathComponent("slurm-merge.sbatch").path],
      env: ["FAULTLINE": "bin/faultline", "FAULTLINE_REPORTS": "Reports/slurm-\(job)", "SLURM_JOB_ID": "4300"], in: dir)
    #expect(m.status == 0, "\(m.stdout)\(m.stderr)")
    // The same script as an array of one task: the whole space, unsharded.
    var whole = slurmEnvironment(job: 1, id: 0, ids: [0], step: 1, cpus: cpus)
    whole["FAULTLINE"] = "bin/faultline"
    let one = try sh([script.path], env: whole, in: dir)
    #expect(one.status == 0, "\(one.stdout)\(one.stderr)")
    try checkMerge(
      shards: shards, merged: dir.appendingPathComponent("Reports/slurm-\(job)/merged"),
      unsharded: dir.appendingPathComponent("Reports/slurm-1/shard-0"))
  }

  @Test("Examples/shards: a Slurm array's tasks, each with its SLURM_ARRAY_* variables, merge into the unsharded sweep")
  func slurmArray() throws {
    let dir = try Self.scratch("slurm")
    defer { try? FileManager.default.removeItem(at: dir) }
    try Self.clone(dir)
    try Self.slurmArray(spec: nil, in: dir)
  }

  @Test(
    "Examples/shards: the Slurm script submitted as a stepped array (--array=1-7:2) merges into the unsharded sweep")
  func steppedSlurmArray() throws {
    let dir = try Self.scratch("slurm-stepped")
    defer { try? FileManager.default.removeItem(at: dir) }
    try Self.clone(dir)
    try Self.slurmArray(spec: "1-7:2", in: dir)
  }

  // MARK: GitHub Actions

  /// `${{ EXPR }}` replaced from `values`; any other expression fails the test (this test runs
  /// only what it can evaluate).
  static func expand(_ s: String, _ values: [String: String]) throws -> String {
    var out = s
    for (expr, value) in values.sorted(by: { $0.key < $1.key }) {
      out = out.replacingOccurrences(of: "${{ \(expr) }}", with: value)
    }
    #expect(!out.contains("${{"), "an expression this test does not evaluate: \(out)")
    return out
  }

  /// The `run:` of the step named `name` in job `job`.
  static func step(_ workflow: PlanValue, job: String, named name: String) throws -> String {
    let steps = try #require(workflow["jobs", job, "steps"]?.items)
    let step = try #require(steps.first { $0["name"]?.text == name }, "no step '\(name)' in job \(job)")
    return try #require(step["run"]?.text)
  }

  @Test(
    "Examples/shards: a GitHub Actions matrix's jobs, each with its FAULTLINE_SHARD, merge into the unsharded sweep")
  func githubActionsMatrix() throws {
    let root = try Self.scratch("github")
    defer { try? FileManager.default.removeItem(at: root) }
    let url = Self.examples.appendingPathComponent("github-actions-matrix.yml")
    let workflow = try PlanValue.parse(String(contentsOf: url, encoding: .utf8), file: url.path)
    let matrix = try #require(workflow["jobs", "sweep", "strategy", "matrix"])
    guard case .map(let dimensions, _) = matrix else { throw CLIError(message: "matrix: not a mapping") }
    #expect(dimensions.map(\.key) == ["shard"], "one dimension: strategy.job-total is the shard count")
    let values = try #require(matrix["shard"]?.items).compactMap(\.text)
    var jobEnv: [(String, String)] = []
    if case .map(let entries, _)? = workflow["jobs", "sweep", "env"] {
      jobEnv = try entries.map { ($0.key, try #require($0.value.text)) }
    }
    let sweep = try Self.step(workflow, job: "sweep", named: "sweep one shard")
    /// One matrix job in a checkout of its own; its report folder is what it uploads.
    func runJob(_ name: String, _ expressions: [String: String]) throws -> URL {
      let checkout = root.appendingPathComponent(name)
      try FileManager.default.createDirectory(at: checkout, withIntermediateDirectories: true)
      try Self.clone(checkout)
      var env: [String: String] = [:]
      for (k, v) in jobEnv { env[k] = try Self.expand(v, expressions) }
      let r = try Self.sh(["-e", "-c", try Self.expand(sweep, expressions)], env: env, in: checkout)
      #expect(r.status == 0, "\(name): \(r.stdout)\(r.stderr)")
      return checkout.appendingPathComponent("shard-\(expressions["matrix.shard"] ?? "")")
    }
    var shards: [(dir: URL, shard: Shard)] = []
    for (index, value) in values.enumerated() {
      let expressions = [
        "matrix.shard": value, "strategy.job-index": String(index), "strategy.job-total": String(values.count),
      ]
      shards.append((try runJob("sweep-\(index)", expressions), Shard(index: index, count: values.count)))
    }
    // The merge job: a checkout, and each shard's artifact downloaded to shards/<name>/.
    let merge = root.appendingPathComponent("merge")
    try FileManager.default.createDirectory(
      at: merge.appendingPathComponent("shards"), withIntermediateDirectories: true)
    try Self.clone(merge)
    for s in shards {
      try FileManager.default.copyItem(
        at: s.dir, to: merge.appendingPathComponent("shards").appendingPathComponent(s.dir.lastPathComponent))
    }
    let run = try Self.step(workflow, job: "merge", named: "merge the shards")
    let m = try Self.sh(["-e", "-c", try Self.expand(run, [:])], env: [:], in: merge)
    #expect(m.status == 0, "\(m.stdout)\(m.stderr)")
    // The sweep job in a matrix of one: the whole space, unsharded.
    let whole = try runJob("unsharded", ["matrix.shard": "0", "strategy.job-index": "0", "strategy.job-total": "1"])
    try Self.checkMerge(shards: shards, merged: merge.appendingPathComponent("merged"), unsharded: whole)
  }
}

extension PlanValue {
  /// The value at `keys` down nested mappings.
  subscript(_ keys: String...) -> PlanValue? {
    var v: PlanValue? = self
    for k in keys {
      guard case .map(let entries, _)? = v else { return nil }
      v = entries.first { $0.key == k }?.value
    }
    return v
  }
  subscript(_ i: Int) -> PlanValue? {
    guard case .seq(let items, _) = self, i < items.count else { return nil }
    return items[i]
  }
  var items: [PlanValue]? {
    guard case .seq(let items, _) = self else { return nil }
    return items
  }
  var text: String? {
    guard case .scalar(let s, _) = self else { return nil }
    return s
  }
}

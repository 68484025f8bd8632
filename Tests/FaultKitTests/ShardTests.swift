import FaultKit
import Testing

@Suite("the shard from the environment")
struct ShardEnvironmentTests {
  @Test("no shard variable: no shard")
  func none() throws {
    #expect(try Shard.fromEnvironment([:]) == nil)
    #expect(try Shard.fromEnvironment(["SLURM_JOB_ID": "7", "HOME": "/root"]) == nil)
  }

  @Test("FAULTLINE_SHARD=i/n, and it wins over the job systems'")
  func explicit() throws {
    #expect(try Shard.fromEnvironment(["FAULTLINE_SHARD": "1/3"]) == Shard(index: 1, count: 3))
    #expect(
      try Shard.fromEnvironment(["FAULTLINE_SHARD": "0/2", "JOB_COMPLETION_INDEX": "1", "FAULTLINE_SHARD_COUNT": "2"])
        == Shard(index: 0, count: 2))
  }

  @Test(
    "a FAULTLINE_SHARD that names no shard is refused, naming it",
    arguments: ["5/2", "2/2", "-1/2", "0/0", "1", "a/b", "1/2/3", "", "/2", "1/"])
  func badExplicit(value: String) {
    let e = #expect(throws: ShardEnvironmentError.self) { try Shard.fromEnvironment(["FAULTLINE_SHARD": value]) }
    #expect(e?.variable == "FAULTLINE_SHARD" && e?.value == value)
    #expect(e?.description.contains("FAULTLINE_SHARD=\(value): expected i/n with 0 <= i < n") == true)
  }

  @Test("Kubernetes: JOB_COMPLETION_INDEX of FAULTLINE_SHARD_COUNT")
  func kubernetes() throws {
    for i in 0..<4 {
      #expect(
        try Shard.fromEnvironment(["JOB_COMPLETION_INDEX": "\(i)", "FAULTLINE_SHARD_COUNT": "4"])
          == Shard(index: i, count: 4))
    }
  }

  @Test(
    "Kubernetes variables that name no shard are refused, naming the one at fault",
    arguments: [
      (["JOB_COMPLETION_INDEX": "2"], "JOB_COMPLETION_INDEX", "FAULTLINE_SHARD_COUNT beside it"),
      (["FAULTLINE_SHARD_COUNT": "4"], "FAULTLINE_SHARD_COUNT", "completionMode: Indexed"),
      (
        ["JOB_COMPLETION_INDEX": "4", "FAULTLINE_SHARD_COUNT": "4"], "JOB_COMPLETION_INDEX",
        "below FAULTLINE_SHARD_COUNT=4"
      ),
      (["JOB_COMPLETION_INDEX": "x", "FAULTLINE_SHARD_COUNT": "4"], "JOB_COMPLETION_INDEX", "from 0 to 3"),
      (["JOB_COMPLETION_INDEX": "0", "FAULTLINE_SHARD_COUNT": "0"], "FAULTLINE_SHARD_COUNT", "at least 1"),
    ])
  func badKubernetes(env: [String: String], variable: String, expected: String) {
    let e = #expect(throws: ShardEnvironmentError.self) { try Shard.fromEnvironment(env) }
    #expect(e?.variable == variable, "\(String(describing: e))")
    #expect(e?.expected.contains(expected) == true, "\(String(describing: e))")
  }

  @Test("Slurm: --array=0-3, --array=1-4 and the stepped --array=1-7:2 each make shards 0 to 3 of 4")
  func slurm() throws {
    for (first, last, step) in [(0, 3, 1), (1, 4, 1), (1, 7, 2), (0, 30, 10)] {
      let ids = Array(stride(from: first, through: last, by: step))
      let shards = try ids.map {
        try Shard.fromEnvironment(slurmEnvironment(id: $0, first: first, last: last, step: step))
      }
      #expect(shards == (0..<4).map { Shard(index: $0, count: 4) }, "--array=\(first)-\(last):\(step)")
    }
    // Slurm before 17.02 said no MIN or STEP; a 0-based array needs neither.
    #expect(
      try Shard.fromEnvironment(["SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "3"])
        == Shard(index: 2, count: 3))
  }

  @Test(
    "Slurm variables that name no shard are refused, naming the one at fault",
    arguments: [
      // No count.
      (["SLURM_ARRAY_TASK_ID": "1"], "SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT beside it"),
      // A list: --array=1,4,9.
      (
        [
          "SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "9",
          "SLURM_ARRAY_TASK_STEP": "1", "SLURM_ARRAY_TASK_COUNT": "3",
        ], "SLURM_ARRAY_TASK_MAX", "--array=0-2"
      ),
      // An id off the step: --array=1-7:2 has no 4.
      (slurmEnvironment(id: 4, first: 1, last: 7, step: 2), "SLURM_ARRAY_TASK_ID", "1 to 7 by 2"),
      (["SLURM_ARRAY_TASK_ID": "x", "SLURM_ARRAY_TASK_COUNT": "2"], "SLURM_ARRAY_TASK_ID", "a whole number"),
      (["SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "0"], "SLURM_ARRAY_TASK_COUNT", "at least 1"),
      (
        ["SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "2", "SLURM_ARRAY_TASK_STEP": "0"],
        "SLURM_ARRAY_TASK_STEP", "at least 1"
      ),
      (
        ["SLURM_ARRAY_TASK_ID": "\(Int.min)", "SLURM_ARRAY_TASK_COUNT": "2", "SLURM_ARRAY_TASK_MIN": "1"],
        "SLURM_ARRAY_TASK_ID", "1 to 2"
      ),
      (
        ["SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "2", "SLURM_ARRAY_TASK_MIN": "\(Int.max)"],
        "SLURM_ARRAY_TASK_MAX", "a regular range"
      ),
    ])
  func badSlurm(env: [String: String], variable: String, expected: String) {
    let e = #expect(throws: ShardEnvironmentError.self) { try Shard.fromEnvironment(env) }
    #expect(e?.variable == variable, "\(String(describing: e))")
    #expect(e?.expected.contains(expected) == true, "\(String(describing: e))")
  }
}

/// What Slurm sets in each task of `--array=first-last:step`.
private func slurmEnvironment(id: Int, first: Int, last: Int, step: Int) -> [String: String] {
  [
    "SLURM_ARRAY_JOB_ID": "99", "SLURM_ARRAY_TASK_ID": "\(id)", "SLURM_ARRAY_TASK_MIN": "\(first)",
    "SLURM_ARRAY_TASK_MAX": "\(last)", "SLURM_ARRAY_TASK_STEP": "\(step)",
    "SLURM_ARRAY_TASK_COUNT": "\((last - first) / step + 1)",
  ]
}

/// Which part of the space this run takes: depth-1 scenario `i` (and its depth-2 children) goes to
/// shard `i % count`.
public struct Shard: Sendable, Hashable, Codable, CustomStringConvertible {
  public let index: Int
  public let count: Int
  public init(index: Int, count: Int) {
    self.index = index
    self.count = count
  }
  public static let all = Shard(index: 0, count: 1)
  public func owns(_ i: Int) -> Bool { i % count == index }
  public var description: String { "\(index)/\(count)" }

  /// `i/n` with 0 ≤ i < n.
  public init?(parsing s: String) {
    let parts = s.split(separator: "/", omittingEmptySubsequences: false)
    guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]), n >= 1, i >= 0, i < n else { return nil }
    self.init(index: i, count: n)
  }

  /// The shard the job-array system this process runs under says it is, or nil when none says:
  /// `FAULTLINE_SHARD=i/n` (any CI matrix), Kubernetes Indexed Jobs (`JOB_COMPLETION_INDEX` with
  /// `FAULTLINE_SHARD_COUNT`, since Kubernetes does not tell a pod the completion count), Slurm job
  /// arrays (`SLURM_ARRAY_TASK_ID` with `SLURM_ARRAY_TASK_COUNT`, `SLURM_ARRAY_TASK_MIN` and
  /// `SLURM_ARRAY_TASK_STEP`: `--array=1-7:2` is four shards). The first of the three that is set
  /// decides.
  ///
  /// A variable that is set but wrong is an error, never ignored: ignored, every pod or array task
  /// would run the whole space and the merge would hold each scenario n times.
  /// - Throws: `ShardEnvironmentError` naming the variable, its value and what was expected.
  public static func fromEnvironment(_ env: [String: String]) throws -> Shard? {
    if let s = env["FAULTLINE_SHARD"] {
      guard let shard = Shard(parsing: s) else {
        throw ShardEnvironmentError(
          variable: "FAULTLINE_SHARD", value: s,
          expected: "i/n with 0 <= i < n (shard i of n; unset it to run the whole space)")
      }
      return shard
    }
    if env["JOB_COMPLETION_INDEX"] != nil || env["FAULTLINE_SHARD_COUNT"] != nil {
      return try kubernetes(env)
    }
    if env["SLURM_ARRAY_TASK_ID"] != nil { return try slurm(env) }
    return nil
  }

  /// A Kubernetes Indexed Job's pod: `JOB_COMPLETION_INDEX` (set by Kubernetes) of
  /// `FAULTLINE_SHARD_COUNT` (set in the pod template to the Job's `completions`).
  static func kubernetes(_ env: [String: String]) throws -> Shard {
    guard let raw = env["JOB_COMPLETION_INDEX"] else {
      throw ShardEnvironmentError(
        variable: "FAULTLINE_SHARD_COUNT", value: env["FAULTLINE_SHARD_COUNT"] ?? "",
        expected:
          "JOB_COMPLETION_INDEX beside it, which Kubernetes sets in the pods of a Job with completionMode: Indexed")
    }
    guard let rawCount = env["FAULTLINE_SHARD_COUNT"] else {
      throw ShardEnvironmentError(
        variable: "JOB_COMPLETION_INDEX", value: raw,
        expected:
          "FAULTLINE_SHARD_COUNT beside it, set in the pod template to the Job's completions (Kubernetes does not tell a pod how many there are)"
      )
    }
    guard let n = Int(rawCount), n >= 1 else {
      throw ShardEnvironmentError(
        variable: "FAULTLINE_SHARD_COUNT", value: rawCount, expected: "a whole number of shards, at least 1")
    }
    guard let i = Int(raw), i >= 0 else {
      throw ShardEnvironmentError(
        variable: "JOB_COMPLETION_INDEX", value: raw, expected: "a whole number from 0 to \(n - 1)")
    }
    guard i < n else {
      throw ShardEnvironmentError(
        variable: "JOB_COMPLETION_INDEX", value: raw,
        expected:
          "an index below FAULTLINE_SHARD_COUNT=\(rawCount) (set FAULTLINE_SHARD_COUNT to the Job's completions)")
    }
    return Shard(index: i, count: n)
  }

  /// A Slurm array task. The array's ids must be a regular range, `MIN-MAX:STEP` (what
  /// `--array=0-3` or `--array=1-7:2` makes): task `MIN + k*STEP` is shard `k` of `COUNT`. A list
  /// such as `--array=1,4,9` has no such rule, so it is refused rather than guessed.
  static func slurm(_ env: [String: String]) throws -> Shard {
    let raw = env["SLURM_ARRAY_TASK_ID"] ?? ""
    func number(_ name: String, default value: Int? = nil) throws -> Int {
      guard let s = env[name] else {
        if let value { return value }
        throw ShardEnvironmentError(
          variable: "SLURM_ARRAY_TASK_ID", value: raw,
          expected: "\(name) beside it, as Slurm (17.02 and later) sets for every array task")
      }
      guard let v = Int(s) else {
        throw ShardEnvironmentError(variable: name, value: s, expected: "a whole number")
      }
      return v
    }
    let id = try number("SLURM_ARRAY_TASK_ID")
    let count = try number("SLURM_ARRAY_TASK_COUNT")
    let min = try number("SLURM_ARRAY_TASK_MIN", default: 0)
    let step = try number("SLURM_ARRAY_TASK_STEP", default: 1)
    guard count >= 1 else {
      throw ShardEnvironmentError(
        variable: "SLURM_ARRAY_TASK_COUNT", value: env["SLURM_ARRAY_TASK_COUNT"] ?? "", expected: "at least 1")
    }
    guard step >= 1 else {
      throw ShardEnvironmentError(
        variable: "SLURM_ARRAY_TASK_STEP", value: env["SLURM_ARRAY_TASK_STEP"] ?? "", expected: "at least 1")
    }
    // The overflow-checked last id of a regular range of `count` ids from `min` by `step`.
    let (span, o1) = step.multipliedReportingOverflow(by: count - 1)
    let (last, o2) = min.addingReportingOverflow(span)
    let max = try number("SLURM_ARRAY_TASK_MAX", default: o1 || o2 ? Int.max : last)
    guard !o1 && !o2 && max == last else {
      throw ShardEnvironmentError(
        variable: "SLURM_ARRAY_TASK_MAX", value: env["SLURM_ARRAY_TASK_MAX"] ?? "",
        expected:
          "\(o1 || o2 ? "a regular range" : String(last)): SLURM_ARRAY_TASK_MIN=\(min) + SLURM_ARRAY_TASK_STEP=\(step) × (SLURM_ARRAY_TASK_COUNT=\(count) - 1), as --array=FIRST-LAST[:STEP] gives; a list of ids (--array=1,4,9) cannot be split into shards, so submit --array=0-\(count - 1) or set FAULTLINE_SHARD=i/n"
      )
    }
    let (offset, o3) = id.subtractingReportingOverflow(min)
    guard !o3, offset >= 0, offset % step == 0, offset / step < count else {
      throw ShardEnvironmentError(
        variable: "SLURM_ARRAY_TASK_ID", value: raw,
        expected:
          "one of the array's ids: \(min) to \(max)\(step > 1 ? " by \(step)" : "") (SLURM_ARRAY_TASK_MIN, SLURM_ARRAY_TASK_MAX, SLURM_ARRAY_TASK_STEP)"
      )
    }
    return Shard(index: offset / step, count: count)
  }
}

/// A shard variable of the environment that is set but says no shard: the variable, its value,
/// and what was expected.
public struct ShardEnvironmentError: Error, Hashable, Sendable, CustomStringConvertible {
  public let variable: String
  public let value: String
  public let expected: String
  public init(variable: String, value: String, expected: String) {
    self.variable = variable
    self.value = value
    self.expected = expected
  }
  public var description: String {
    "environment \(variable)=\(value): expected \(expected) (--shard i/n overrides the environment)"
  }
}

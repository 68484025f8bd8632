import CFaultlineSupport
import Foundation

/// What a sweep's results depend on besides its arguments: each plan file's contents, the build
/// of the program that runs the engines, and each plugin's contents. A sweep records them in
/// meta.json; a resume whose inputs differ would mix results of two versions, and is refused
/// saying which changed. So is a merge of shards whose inputs differ.
public struct SweepInputs: Sendable, Codable, Hashable {
  /// Plan file → content hash.
  public var plans: [String: String]
  /// The running program's GNU build id (`build-id:HEX`), or its size and modification time when
  /// it has none (`file:SIZE:MTIME`): the engines are built into it.
  public var build: String
  /// Plugin path → content hash.
  public var plugins: [String: String]

  public init(plans: [String: String], build: String, plugins: [String: String]) {
    self.plans = plans
    self.build = build
    self.plugins = plugins
  }

  /// The inputs of a sweep of `planFiles` with `pluginFiles`, read now.
  /// - Throws: `ResultsError` "PATH: reason" for a file that cannot be read.
  public static func current(planFiles: [String], pluginFiles: [String]) throws -> SweepInputs {
    var plans: [String: String] = [:]
    for f in planFiles { plans[f] = try hash(file: f) }
    var plugins: [String: String] = [:]
    for f in pluginFiles { plugins[f] = try hash(file: f) }
    return SweepInputs(plans: plans, build: buildIdentity(), plugins: plugins)
  }

  /// What differs from `earlier`, a sentence per input (empty when nothing does).
  public func changes(since earlier: SweepInputs) -> [String] {
    var out: [String] = []
    if build != earlier.build {
      out.append("the faultline build changed (\(earlier.build), now \(build))")
    }
    for f in Set(plans.keys).union(earlier.plans.keys).sorted() where plans[f] != earlier.plans[f] {
      out.append(
        earlier.plans[f] == nil
          ? "plan \(f) was not in it" : plans[f] == nil ? "plan \(f) is missing now" : "plan \(f) was edited")
    }
    for f in Set(plugins.keys).union(earlier.plugins.keys).sorted() where plugins[f] != earlier.plugins[f] {
      out.append(
        earlier.plugins[f] == nil
          ? "plugin \(f) was not loaded then"
          : plugins[f] == nil ? "plugin \(f) is not loaded now" : "plugin \(f) changed")
    }
    return out
  }

  /// FNV-1a (64 bits) of a file's bytes, as 16 hex digits: what tells an edited file from the
  /// one a sweep ran (not a defence against forgery).
  public static func hash(file path: String) throws -> String {
    let data: Data
    do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
      throw ResultsError(message: "\(path): \(IOFailure.reason(error))")
    }
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    data.withUnsafeBytes { raw in
      for b in raw { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
    }
    let s = String(h, radix: 16)
    return String(repeating: "0", count: 16 - s.count) + s
  }

  /// The running program's GNU build id, read from its loaded note segments; its size and
  /// modification time if it has none.
  public static func buildIdentity() -> String {
    if let id = BuildID.ofMainProgram() { return "build-id:\(id)" }
    var st = stat()
    guard stat("/proc/self/exe", &st) == 0 else { return "unknown" }
    return "file:\(st.st_size):\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)"
  }
}

/// The NT_GNU_BUILD_ID note of the main program (`fl_build_id`, C: dl_iterate_phdr).
enum BuildID {
  static func ofMainProgram() -> String? {
    var bytes = [UInt8](repeating: 0, count: 64)
    let n = fl_build_id(&bytes, bytes.count)
    guard n > 0 else { return nil }
    return bytes[0..<n].map { String(format: "%02x", $0) }.joined()
  }
}

import Foundation

/// A User-Mode Linux kernel binary the engine boots, and what it was built with.
///
/// Found, in order: the plan's `setup: { kernel: PATH }`, `FAULTLINE_KERNEL` (what `--kernel`
/// sets, so sweep workers find the same), then the newest kernel `scripts/build-kernel` cached
/// under `${XDG_CACHE_HOME:-~/.cache}/faultline/kernels/`.
public struct LinuxKernel: Sendable, Hashable {
  public let path: String
  /// `CONFIG_X` → value, from the `.config` beside the binary (what build-kernel keeps there); nil
  /// for a kernel built elsewhere without one (its features are then probed in the guest).
  public let config: [String: String]?
  /// `linux-source-6.12 6.12.117-1~deb12u1 config 0123abcd`, when build-kernel built it.
  public let version: String?

  /// Where build-kernel caches kernels.
  public static var cacheDirectory: String {
    let env = ProcessInfo.processInfo.environment
    let base = env["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? (NSHomeDirectory() + "/.cache")
    return base + "/faultline/kernels"
  }

  /// What to say when there is none.
  public static let howToBuild =
    "no User-Mode Linux kernel found: build one with scripts/build-kernel (about 25 minutes of CPU on 2 cores, cached in \(cacheDirectory) for every later run), or name one with --kernel PATH, FAULTLINE_KERNEL=PATH or the plan's setup: { kernel: PATH }"

  /// The kernel to boot.
  /// - Throws: `LinuxEngineError.broken` saying how to get one.
  public static func locate(explicit: String?) throws -> LinuxKernel {
    let env = ProcessInfo.processInfo.environment
    if let p = explicit ?? env["FAULTLINE_KERNEL"].flatMap({ $0.isEmpty ? nil : $0 }) {
      guard FileManager.default.isExecutableFile(atPath: p) else {
        throw LinuxEngineError.broken("kernel \(p): no such executable file")
      }
      return LinuxKernel(at: p)
    }
    let dir = cacheDirectory
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
    // The newest build (by modification time), names sorted first so ties break the same way.
    var best: (String, Date)?
    for e in entries.sorted() where !e.hasPrefix(".") {
      let p = "\(dir)/\(e)/linux"
      guard FileManager.default.isExecutableFile(atPath: p),
        let m = (try? FileManager.default.attributesOfItem(atPath: p))?[.modificationDate] as? Date
      else { continue }
      if best == nil || m > best!.1 { best = (p, m) }
    }
    guard let (p, _) = best else { throw LinuxEngineError.broken(howToBuild) }
    return LinuxKernel(at: p)
  }

  public init(at path: String) {
    self.path = path
    let dir = (path as NSString).deletingLastPathComponent
    if let text = try? String(contentsOfFile: dir + "/.config", encoding: .utf8) {
      var c: [String: String] = [:]
      for line in text.split(separator: "\n") where line.hasPrefix("CONFIG_") {
        guard let eq = line.firstIndex(of: "=") else { continue }
        c[String(line[..<eq])] = String(line[line.index(after: eq)...])
      }
      config = c
    } else {
      config = nil
    }
    version = (try? String(contentsOfFile: dir + "/VERSION", encoding: .utf8))?.trimmingCharacters(
      in: .whitespacesAndNewlines)
  }

  /// Whether the kernel was built with `CONFIG_name=y`; nil when unknown (no .config).
  public func has(_ name: String) -> Bool? { config.map { $0["CONFIG_" + name] == "y" } }
}

/// What the far side of an engine was built with (a kernel's config options), and the fault
/// points and invariants that need something it lacks: said up front, before a sweep runs, by
/// `faultline points` and in results.json, so a point that cannot fire or an invariant that
/// cannot see what it checks is never mistaken for one that found nothing.
public struct EngineFeatures: Sendable, Codable, Hashable {
  /// One option: whether it is there (nil: unknown) and what it gives.
  public struct Feature: Sendable, Codable, Hashable {
    public let name: String
    public let present: Bool?
    public let gives: String
    public init(name: String, present: Bool?, gives: String) {
      self.name = name
      self.present = present
      self.gives = gives
    }
  }

  public let engine: String
  /// What was read: `kernel /x/linux (config: /x/.config)`.
  public let source: String
  public let features: [Feature]
  /// Points and invariants of the engine that need an option it lacks, each with the options:
  /// `point mem.alloc: needs FAILSLAB` (what is unknown is not listed: `unknown` says so).
  public let unavailable: [String]
  /// Why the options are unknown, when they are.
  public let unknown: String?

  public init(engine: String, source: String, features: [Feature], unavailable: [String], unknown: String? = nil) {
    self.engine = engine
    self.source = source
    self.features = features
    self.unavailable = unavailable
    self.unknown = unknown
  }

  /// The features as lines a person reads: the source, what it has, what it lacks, what that costs.
  public var lines: [String] {
    var out = ["\(engine): \(source)"]
    if let unknown { out.append("  options unknown: \(unknown)") }
    let has = features.filter { $0.present == true }.map(\.name)
    let lacks = features.filter { $0.present == false }.map(\.name)
    if !has.isEmpty { out.append("  has: " + has.joined(separator: " ")) }
    if !lacks.isEmpty { out.append("  lacks: " + lacks.joined(separator: " ")) }
    for f in features where f.present == false { out.append("    \(f.name): no \(f.gives)") }
    for u in unavailable { out.append("  unavailable: \(u)") }
    return out
  }
}

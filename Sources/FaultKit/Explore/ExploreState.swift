/// What `faultline explore` keeps between runs (`explore-state.json` in its report directory):
/// the arguments that shape generation, where the systematic phase stands, every workload made,
/// the workloads that reached something new (the corpus candidates) with what they reached,
/// every item reached, the growth per generation and the failures found. Written after each
/// generation whose sweep finished, so an interrupted or budgeted run resumes at the next one.
/// Sorted and free of wall time: the same seed gives the same bytes.
public struct ExploreState: Sendable, Codable, Hashable {
  public static let currentSchema = "faultline-explore/1"
  public var schema = Self.currentSchema
  public var engine: String
  public var seed: UInt64
  /// The longest systematic sequence (`--length`) and the plans per generation (`--batch`).
  public var length: Int
  public var batch: Int
  /// The depth of each generation's sweep (`--depth`).
  public var depth: Int
  /// The coverage signal's name (`CoverageSignal.name`).
  public var signal: String
  public var shard: Shard
  /// The next systematic index (an index the shard does not own is skipped).
  public var systematicNext = 0
  /// Guided batches made so far (each draws from its own random stream).
  public var guidedBatches = 0
  /// Every guided workload made, in the order made (systematic ones are known by their index).
  public var guided: [Workload] = []
  public var candidates: [Candidate] = []
  /// Every item reached, sorted.
  public var reached: [String] = []
  public var generations: [Generation] = []
  public var failures: [Failure] = []

  public init(
    engine: String, seed: UInt64, length: Int, batch: Int, depth: Int = 1, signal: String, shard: Shard
  ) {
    self.depth = depth
    self.engine = engine
    self.seed = seed
    self.length = length
    self.batch = batch
    self.signal = signal
    self.shard = shard
  }

  /// A generated plan that reached at least one item no plan before it had.
  public struct Candidate: Sendable, Codable, Hashable {
    public let name: String
    /// The plan file, relative to the report directory.
    public let file: String
    public let workload: Workload
    public let generation: Int
    /// Everything its sweep reached, sorted.
    public let items: [String]
    /// How many of them were new when it ran.
    public let added: Int
    public init(name: String, file: String, workload: Workload, generation: Int, items: [String], added: Int) {
      self.name = name
      self.file = file
      self.workload = workload
      self.generation = generation
      self.items = items
      self.added = added
    }
  }

  /// One generation: how it was made, how much ran, what it added.
  public struct Generation: Sendable, Codable, Hashable {
    public let number: Int
    /// `systematic` or `guided`.
    public let phase: String
    public let plans: Int
    public let scenarios: Int
    /// Items first reached in it, and all items reached after it.
    public let added: Int
    public let reached: Int
    public let failures: Int
    public init(number: Int, phase: String, plans: Int, scenarios: Int, added: Int, reached: Int, failures: Int) {
      self.number = number
      self.phase = phase
      self.plans = plans
      self.scenarios = scenarios
      self.added = added
      self.reached = reached
      self.failures = failures
    }
  }

  /// A distinct failure a generated plan's sweep found, with its shrunk repro.
  public struct Failure: Sendable, Codable, Hashable {
    public let plan: String
    public let file: String
    public let signature: String
    public let invariants: [String]
    /// The repro plan, relative to the report directory (nil when the sweep wrote none).
    public let repro: String?
    public let generation: Int
    public init(plan: String, file: String, signature: String, invariants: [String], repro: String?, generation: Int) {
      self.plan = plan
      self.file = file
      self.signature = signature
      self.invariants = invariants
      self.repro = repro
      self.generation = generation
    }
  }

  public var plansRun: Int { generations.reduce(0) { $0 + $1.plans } }
  public var scenariosRun: Int { generations.reduce(0) { $0 + $1.scenarios } }
}

/// `no-bad-page-state`: pages leave the page cache unlocked by others and not under writeback.
public struct NoBadPageState: Invariant {
  public init() {}
  public let name = InvariantName.noBadPageState
  public let checks = """
    Always: no page left the page cache (truncated, evicted, invalidated, migrated) while under \
    writeback, or while locked by a task other than the one removing it: what the kernel reports \
    as "Bad page state" when such a page is freed, or what its BUG_ONs catch earlier. The engine's \
    page cache records each such departure as it happens (assertions named no-bad-page-state); \
    this reads those records.
    """
  public let doesNotCheck = """
    Page references (the model has none: a page is freed when it leaves the cache, for this \
    check's purpose), flags other than locked and writeback, and a page that left the cache \
    locked by its remover and was never unlocked: its lock stays in the snapshot as \
    `page /a#3 (left the cache)`, and locks-released reports it leaked.
    """

  public func check(_ c: InvariantContext) -> [Violation] { asserted(c, prefix: "bad page state: ") }
}

/// `unlock-by-owner`: every unlock is made by a task that holds the lock (lockdep's view).
public struct UnlockByOwner: Invariant {
  public init() {}
  public let name = InvariantName.unlockByOwner
  public let checks = """
    Always: no lock was released by a task that did not hold it, and no lock was released that \
    nobody held (lockdep's bad unlock balance, DEBUG_RWSEMS's owner check). The engine's lock \
    primitives record each such unlock as it happens (assertions named unlock-by-owner, with who \
    unlocked what and who held it); this reads those records. In the model engines that is \
    ModelKernel's rw-semaphores, page locks and range locks.
    """
  public let doesNotCheck = """
    Locks the engine's primitives do not track, unlocks the kernel allows across contexts on \
    purpose (a read's I/O completion unlocking the page its submitter locked: the model engines \
    have no such path), and lock ordering.
    """

  public func check(_ c: InvariantContext) -> [Violation] {
    asserted(c, prefix: "unlock by a task that does not hold the lock: ")
  }
}

import FaultKit

/// One cached page of a file: flags as the kernel names them, its bytes, and a page lock that
/// parks the task that waits for it.
public final class Page: @unchecked Sendable {
  public let index: UInt64
  public var flags: PageFlags = []
  public var data: [UInt8]
  /// The file this page belongs to; nil once migration or truncation took it away. Weak: the
  /// address space owns its pages, not the other way round.
  public weak var mapping: AddressSpace?
  /// Who locked it (for snapshots and hang reports; page locks have no owner in the kernel).
  public var lockHolder: Holder?
  let id: Int

  init(index: UInt64, pageSize: UInt64, mapping: AddressSpace, id: Int) {
    self.index = index
    self.data = Array(repeating: 0, count: Int(pageSize))
    self.mapping = mapping
    self.id = id
  }

  /// Stores `byte` over the part of the file range `r` that lies in this page (a copy from the
  /// user buffer, an mmap store).
  public func store(_ byte: UInt8, over r: ByteRange) {
    let ps = UInt64(data.count)
    let start = index * ps
    guard let part = r.intersection(ByteRange(start: start, length: ps)) else { return }
    let lo = Int(part.start - start)
    data.withUnsafeMutableBufferPointer { b in
      for k in lo..<lo + Int(part.length) { b[k] = byte }
    }
  }

  /// Stores the bytes `data` puts over the part of the file range `r` that lies in this page.
  public func store(_ data: WriteData, over r: ByteRange) {
    let ps = UInt64(self.data.count)
    let start = index * ps
    guard let part = r.intersection(ByteRange(start: start, length: ps)) else { return }
    let lo = Int(part.start - start)
    self.data.withUnsafeMutableBufferPointer { b in
      data.fill(UnsafeMutableBufferPointer(rebasing: b[lo..<lo + Int(part.length)]), at: part.start)
    }
  }

  var lockKey: WaitKey { WaitKey(kind: WaitKind.pageLock, a: id) }
  var writebackKey: WaitKey { WaitKey(kind: WaitKind.pageWriteback, a: id) }
}

/// A file's page cache (the kernel's address_space): pages by index and the writeback errors
/// recorded on the mapping for fsync to report.
public final class AddressSpace: @unchecked Sendable {
  public let path: String
  public private(set) var pages: [UInt64: Page] = [:]
  /// Writeback errors as errseq (Linux 4.13 on) keeps them: every error recorded bumps the
  /// mapping's sequence, and each task (standing for an open file description) has its own
  /// cursor, so each is told of a new error once, the first time it checks after the error
  /// happened: two tasks fsyncing the same file both hear of a failure.
  private var errorSeq = 0
  private var lastError: FSError?
  private var seenBy: [String: Int] = [:]
  /// AS_EIO/AS_ENOSPC, the flag before errseq: set by every error, cleared by the first check,
  /// whoever makes it (`testAndClearError`, for engines that model that era or its bug).
  private var legacyFlag = false

  /// Reading: the newest error the running task has not been told of (file_check_and_advance_wb_err
  /// without the advance). Setting an error records it (mapping_set_error, which also tells the
  /// harness, whose errseq oracle checks that every task's fsync reports it); setting nil marks
  /// the newest one told to the running task.
  public var error: FSError? {
    get { errorSeq > (seenBy[kernel.harness.holder.task] ?? 0) ? lastError : nil }
    set {
      if let e = newValue {
        errorSeq += 1
        lastError = e
        legacyFlag = true
        kernel.harness.writebackError(file: path, e)
      } else {
        seenBy[kernel.harness.holder.task] = errorSeq
        legacyFlag = false
      }
    }
  }

  /// `filemap_check_errors` before errseq: the error if the flag is set, clearing the flag, so
  /// whichever file description checks first is the only one told.
  public func testAndClearError() -> FSError? {
    guard legacyFlag else { return nil }
    legacyFlag = false
    seenBy[kernel.harness.holder.task] = errorSeq
    return lastError
  }

  /// `filemap_check_errors` since errseq (what filemap_write_and_wait_range returns): the error
  /// if the flag is set, clearing the flag; the tasks' errseq cursors are left alone, so each
  /// task's fsync still reports it.
  public func checkErrors() -> FSError? {
    guard legacyFlag else { return nil }
    legacyFlag = false
    return lastError
  }

  /// The newest error no task has been told of yet (what a snapshot reports as pending).
  public var unreported: FSError? {
    errorSeq > (seenBy.values.max() ?? 0) ? lastError : nil
  }
  private let kernel: Kernel

  public init(path: String, kernel: Kernel) {
    self.path = path
    self.kernel = kernel
  }

  public var pageSize: UInt64 { kernel.pageSize }

  public func lookup(_ index: UInt64) -> Page? { pages[index] }

  /// The page at `index`, created empty (not uptodate) if absent.
  public func findOrCreate(_ index: UInt64) -> Page {
    if let p = pages[index] { return p }
    let p = Page(index: index, pageSize: kernel.pageSize, mapping: self, id: kernel.makeID())
    pages[index] = p
    return p
  }

  /// Page indexes in order (dictionary order never leaks out).
  public var indexes: [UInt64] { pages.keys.sorted() }

  /// Removes a page from the cache (truncation, eviction, invalidation); it keeps its flags but
  /// loses its mapping.
  public func remove(_ page: Page) {
    leaving(page, "left the cache")
    if pages[page.index] === page { pages[page.index] = nil }
    page.mapping = nil
  }

  /// The rule `no-bad-page-state` names: a page leaves the cache neither under writeback
  /// (truncation and migration wait for it: the I/O would end on a page nobody has) nor locked by
  /// a task other than the one removing it (that task still thinks it owns a cached page).
  public static let badPageState = "no-bad-page-state"

  /// Pages no longer in the cache whose lock is held (taken before or after they left): still
  /// reported as page locks, `page /a#3 (left the cache)`, until unlocked, so a lock on a page
  /// that left the cache is not lost from sight.
  private var departed: [Page] = []

  /// Records a page leaving the cache in a state the kernel would call a bad page.
  private func leaving(_ page: Page, _ how: String) {
    guard page.mapping === self else { return }
    let me = kernel.harness.holder
    if page.flags.contains(.writeback) {
      kernel.report(AddressSpace.badPageState, "\(me): page \(path)#\(page.index) \(how) under writeback")
    }
    if page.flags.contains(.locked), let h = page.lockHolder, h.task != me.task {
      kernel.report(AddressSpace.badPageState, "\(me): page \(path)#\(page.index) \(how) locked by \(h)")
    }
    if page.flags.contains(.locked) && !departed.contains(where: { $0 === page }) { departed.append(page) }
  }

  /// Page migration: a new page takes `old`'s place with its bytes and `flags`; `old` loses its
  /// mapping (whoever still holds it finds `mapping == nil`). Returns the new page.
  public func migrate(_ old: Page, keeping flags: PageFlags) -> Page {
    leaving(old, "migrated")
    let new = Page(index: old.index, pageSize: kernel.pageSize, mapping: self, id: kernel.makeID())
    new.data = old.data
    new.flags = old.flags.intersection(flags)
    if pages[old.index] === old { pages[old.index] = new }
    old.mapping = nil
    return new
  }

  /// `__filemap_get_folio(FGP_LOCK | FGP_CREAT)`: the page at `index` (created empty if absent),
  /// locked. If the page left the cache while this task waited for its lock (truncated,
  /// invalidated, migrated), it starts over with the page now there.
  public func grab(_ index: UInt64) async throws -> Page {
    for _ in 0..<(1 << 20) {
      let page = findOrCreate(index)
      try await lock(page)
      if page.mapping === self { return page }
      unlock(page)
    }
    preconditionFailure("page \(path)#\(index) kept leaving the cache")
  }

  /// The same without creating: nil when no page is cached at `index` (writeback's lookup).
  public func lockExisting(_ index: UInt64) async throws -> Page? {
    for _ in 0..<(1 << 20) {
      guard let page = lookup(index) else { return nil }
      try await lock(page)
      if page.mapping === self { return page }
      unlock(page)
    }
    preconditionFailure("page \(path)#\(index) kept leaving the cache")
  }

  /// A buffered read of `range` (clipped to `size`): uptodate pages are copied out; a missing or
  /// stale page is instantiated and filled by `fill` (the filesystem's read_folio) under the page
  /// lock and, when given, the filesystem's invalidate lock held shared (filemap_create_folio),
  /// so no page can appear while punch or truncate hold that lock exclusively. A page whose fill
  /// fails is unlocked and dropped, and the error returned.
  public func read(
    _ range: ByteRange, size: UInt64, invalidateLock: RWSemaphore? = nil, fill: (Page) async throws -> Void
  ) async throws -> [UInt8] {
    let r = ByteRange(range.start, min(range.end, size))
    guard !r.isEmpty else { return [] }
    let ps = kernel.pageSize
    var out: [UInt8] = []
    out.reserveCapacity(Int(r.length))
    for index in (r.start / ps)...((r.end - 1) / ps) {
      var page: Page
      if let cached = lookup(index), cached.flags.contains(.uptodate) {
        page = cached
      } else {
        try await invalidateLock?.lockShared()
        page = try await grab(index)
        if !page.flags.contains(.uptodate) {
          do {
            try await fill(page)
          } catch {
            unlock(page)
            remove(page)
            invalidateLock?.unlock()
            throw error
          }
        }
        unlock(page)
        invalidateLock?.unlock()
      }
      let start = index * ps
      out.append(contentsOf: page.data[Int(max(r.start, start) - start)..<Int(min(r.end, start + ps) - start)])
    }
    return out
  }

  /// Drops the clean, unlocked pages not under writeback (POSIX_FADV_DONTNEED, drop_caches).
  public func dropClean() {
    for i in indexes {
      guard let p = pages[i], p.flags.isDisjoint(with: [.locked, .dirty, .writeback]) else { continue }
      remove(p)
    }
  }

  /// `lock_page`: a schedule point; parks while another holds the lock.
  public func lock(_ page: Page) async throws {
    try await kernel.scheduler.point("lock page \(path)#\(page.index)")
    var rounds = 0
    while page.flags.contains(.locked) {
      rounds += 1
      precondition(rounds < 1 << 20, "page lock wait did not converge")
      try await kernel.scheduler.block(on: page.lockKey, what: "page \(path)#\(page.index)")
    }
    page.flags.insert(.locked)
    page.lockHolder = kernel.harness.holder
    kernel.lockdep.acquired(.page, path, index: page.index, .exclusive)
    if page.mapping !== self && !departed.contains(where: { $0 === page }) { departed.append(page) }
  }

  /// `unlock_page`: wakes the waiters; the unlocker runs on. The kernel's page lock has no owner
  /// (a read's I/O completion unlocks the page its submitter locked); the model has no such
  /// hand-off, so an unlock by a task other than the locker is recorded (`unlock-by-owner`) and
  /// done, and unlocking an unlocked page is recorded and does nothing.
  public func unlock(_ page: Page) {
    guard page.flags.contains(.locked) else {
      kernel.lockdep.badUnlock("unlock_page", .page, "\(path)#\(page.index)", owners: [])
      return
    }
    let owner = page.lockHolder
    if let owner, owner.task != kernel.harness.holder.task {
      kernel.lockdep.badUnlock("unlock_page", .page, "\(path)#\(page.index)", owners: [owner])
    }
    page.flags.remove(.locked)
    page.lockHolder = nil
    departed.removeAll { $0 === page }
    kernel.lockdep.released(.page, path, index: page.index, owner: owner?.task ?? kernel.harness.holder.task)
    kernel.scheduler.wake(page.lockKey)
  }

  /// `wait_on_page_writeback`.
  public func waitWriteback(_ page: Page) async throws {
    var rounds = 0
    while page.flags.contains(.writeback) {
      rounds += 1
      precondition(rounds < 1 << 20, "writeback wait did not converge")
      try await kernel.scheduler.block(on: page.writebackKey, what: "writeback of page \(path)#\(page.index)")
    }
  }

  /// `end_page_writeback`.
  public func endWriteback(_ page: Page) {
    page.flags.remove(.writeback)
    kernel.scheduler.wake(page.writebackKey)
  }

  /// Page records and page-lock records for a snapshot.
  public func report(into s: inout Snapshot) {
    for i in indexes {
      let p = pages[i]!
      s.pages.append(PageRecord(file: path, index: i, flags: p.flags))
      if p.flags.contains(.locked) {
        s.locks.append(
          LockRecord(
            kind: .page, object: "\(path)#\(i)", holders: p.lockHolder.map { [$0] } ?? [],
            waiters: kernel.scheduler.waiters(p.lockKey)))
      }
    }
    for p in departed where p.flags.contains(.locked) {
      s.locks.append(
        LockRecord(
          kind: .page, object: "\(path)#\(p.index) (left the cache)", holders: p.lockHolder.map { [$0] } ?? [],
          waiters: kernel.scheduler.waiters(p.lockKey)))
    }
  }
}

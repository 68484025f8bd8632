import FaultKit
import ModelKernel

/// Writeback (ext4_writepages with dioread_nolock): per run of contiguous dirty pages a handle is
/// started, the pages are locked (mpage_prepare_extent_to_map), their blocks mapped through
/// ext4_map_blocks (delayed blocks allocated as unwritten extents), the pages submitted
/// (`io.write`), and the written blocks converted to written extents at I/O completion.
/// Writeback holds page locks only: not i_rwsem, not the invalidate lock.
extension Ext4Engine {
  /// filemap_fdatawrite_range: writes every dirty page in `range`; throws the first error. With
  /// `wait` (filemap_write_and_wait_range, as fsync and punch do), then waits for every page of
  /// the range still under writeback, whoever started it.
  func writeback(_ inode: Ext4Inode, range: ByteRange, wait: Bool = false) async throws {
    try await writeDirtyPages(inode, range: range)
    guard wait else { return }
    let ps = kernel.pageSize
    for i in inode.mapping.indexes where ByteRange(start: i * ps, length: ps).overlaps(range) {
      guard let page = inode.mapping.lookup(i) else { continue }
      try await inode.mapping.waitWriteback(page)
    }
  }

  private func writeDirtyPages(_ inode: Ext4Inode, range: ByteRange) async throws {
    let ps = kernel.pageSize
    let dirty = inode.mapping.indexes.filter { i in
      ByteRange(start: i * ps, length: ps).overlaps(range) && inode.mapping.lookup(i)!.flags.contains(.dirty)
    }
    var k = 0
    var rounds = 0
    while k < dirty.count {
      rounds += 1
      precondition(rounds <= dirty.count, "writeback made no progress")
      let h = try await startHandle(Ext4Engine.startCredits)
      // Lock a run of contiguous dirty pages, as mpage_prepare_extent_to_map does.
      var run: [Page] = []
      while k < dirty.count && run.count < Ext4Engine.maxRunPages {
        let index = dirty[k]
        if let last = run.last, last.index + 1 != index { break }
        if bug("map-blocks-without-lock") && !run.isEmpty {
          // The bug: look the next page's block up before taking its lock.
          do {
            _ = try await mapBlocks(inode, index, 1, create: false, handle: nil, caller: "writeback lookahead")
            // unreachable error path: a lookup without `create` hits no fault point; it throws only
            // when taking i_data_sem ends the run (the scheduler's hang or step bound), which is
            // not an FSError. And it runs only under the bug switch map-blocks-without-lock.
          } catch let e as FSError {
            for p in run { inode.mapping.unlock(p) }
            journal.stop(h)
            // unreachable error path: the catch above is.
            throw e
          }
        }
        k += 1
        guard let page = try await inode.mapping.lockExisting(index) else { break }
        guard page.flags.contains(.dirty) else {
          inode.mapping.unlock(page)
          break
        }
        try await inode.mapping.waitWriteback(page)
        run.append(page)
      }
      if run.isEmpty {
        journal.stop(h)
        continue
      }
      do {
        try await writeRun(inode, run, h)
      } catch let e as FSError {
        // The bug switch returns the error with the handle still running.
        if !bug("writeback-error-leaks-handle") { journal.stop(h) }
        throw e
      }
      journal.stop(h)
    }
  }

  /// Maps, submits and completes one run of locked, dirty, contiguous pages. On an allocation
  /// failure, the pages that got no block lose their data (mpage_release_unused_pages with
  /// invalidate: "Delayed block allocation failed"): their delayed blocks and reservations are
  /// dropped, the page is cleaned, marked PG_error, unlocked and evicted, and the mapping records
  /// the error; the pages mapped before it are still written.
  private func writeRun(_ inode: Ext4Inode, _ run: [Page], _ h: JournalHandle) async throws {
    var blocks: [(page: Page, pblk: UInt64, unwritten: Bool)] = []
    var failure: FSError?
    var k = 0
    while k < run.count {
      let m: BlockMapping
      var want = UInt64(run.count - k)
      if bug("writeback-maps-beyond-locked-pages") {
        // The bug: map the whole delayed extent, past the pages this writeback locked.
        want = max(want, delayedRun(inode, from: run[k].index))
      }
      do {
        m = try await mapBlocks(inode, run[k].index, want, create: true, handle: h, caller: "writeback")
      } catch let e as FSError {
        failure = e
        break
      }
      precondition(m.len > 0 && m.pblk != nil, "writeback mapped \(inode.path) block \(run[k].index) to nothing")
      for j in 0..<Int(min(m.len, UInt64(run.count - k))) {
        blocks.append((run[k + j], m.pblk! + UInt64(j), m.status == .unwritten))
      }
      k += Int(min(m.len, UInt64(run.count - k)))
    }
    if let failure {
      for p in run[k...] {
        try await inode.dataSem.lockExclusive()
        releaseDelayed(inode.cache.remove(p.index, p.index + 1))
        inode.dataSem.unlock()
        p.flags.subtract([.uptodate, .dirty])
        p.flags.insert(.error)
        inode.mapping.unlock(p)
        inode.mapping.remove(p)
      }
      inode.mapping.error = failure
    }
    // Submit: clear_page_dirty_for_io, PG_writeback, unlock, one bio per page.
    for b in blocks {
      b.page.flags.remove(.dirty)
      b.page.flags.insert(.writeback)
      inode.mapping.unlock(b.page)
    }
    var written: [UInt64] = []
    for b in blocks {
      if case .fail(let e) = try await harness.hit(Ext4Model.Point.ioWrite) {
        b.page.flags.insert(.error)
        inode.mapping.error = e
      } else {
        device.write(b.pblk, b.page.data[...])
        if b.unwritten { written.append(b.page.index) }
      }
    }
    // I/O completion: convert the unwritten blocks that were written, then end page writeback.
    if !written.isEmpty {
      try await inode.dataSem.lockExclusive()
      var i = 0
      while i < written.count {
        var j = i + 1
        while j < written.count && written[j] == written[j - 1] + 1 { j += 1 }
        inode.tree.setWritten(written[i], written[j - 1] + 1)
        inode.recache(written[i], written[j - 1] + 1)
        i = j
      }
      inode.dataSem.unlock()
    }
    for b in blocks { inode.mapping.endWriteback(b.page) }
    if let failure { throw failure }
  }

  /// Contiguous delayed blocks from `lblk` on, as the status cache says (bounded by its entries).
  private func delayedRun(_ inode: Ext4Inode, from lblk: UInt64) -> UInt64 {
    var end = lblk
    for e in inode.cache.entries where e.status == .delayed && e.lblk <= end && end < e.end { end = e.end }
    return end - lblk
  }
}

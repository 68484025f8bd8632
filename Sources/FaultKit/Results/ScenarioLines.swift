import Foundation

/// Every scenario's line of a run (`ScenarioEntry`, encoded as results.json holds it), taken in
/// any order and given back in space order, plan by plan, in bounded memory: lines are sorted in
/// runs of `chunk` and, past the first run, spilled to files with no name in `spill`, then merged.
/// A sweep of millions of scenarios holds one run and a read buffer per spilled run.
public final class ScenarioLines {
  struct Line: Comparable {
    let plan: Int
    let index: Int
    let child: Int
    let seed: UInt64
    let key: String
    let json: [UInt8]

    /// `ScenarioEntry.spaceOrder` within a plan, plans in order.
    static func < (a: Line, b: Line) -> Bool {
      (a.plan, a.index, a.child, a.seed) != (b.plan, b.index, b.child, b.seed)
        ? (a.plan, a.index, a.child, a.seed) < (b.plan, b.index, b.child, b.seed) : a.key < b.key
    }
  }

  private let spill: URL?
  private let chunk: Int
  private var lines: [Line] = []
  private var runs: [Int32] = []
  private let encoder: JSONEncoder
  public private(set) var count = 0

  /// - Parameters:
  ///   - spill: a directory for the sorted runs (nil: keep every line in memory).
  ///   - chunk: lines per run.
  public init(spill: URL?, chunk: Int = 32_768) {
    self.spill = spill
    self.chunk = max(1, chunk)
    encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
  }

  deinit { for fd in runs { close(fd) } }

  public func add(plan: Int, _ e: ScenarioEntry) throws {
    lines.append(
      Line(
        plan: plan, index: e.index, child: e.child, seed: e.scheduleSeed ?? 0, key: e.key,
        json: Array(try encoder.encode(e))))
    count += 1
    if spill != nil && lines.count >= chunk { try spillRun() }
  }

  /// Hands every line to `body` in order (plan, then space order), once.
  public func drain(_ body: (_ plan: Int, _ json: [UInt8]) throws -> Void) throws {
    lines.sort(by: <)
    if runs.isEmpty {
      for l in lines { try body(l.plan, l.json) }
      lines = []
      return
    }
    try spillRun()
    var readers = try runs.map { try RunReader(fd: $0, buffer: max(4096, (16 << 20) / runs.count)) }
    var heads: [Line?] = try readers.indices.map { try readers[$0].next() }
    // A linear scan over the heads: runs are few (one per `chunk` lines).
    while true {
      var best: Int?
      for i in heads.indices {
        guard let h = heads[i] else { continue }
        if let b = best, !(h < heads[b]!) { continue }
        best = i
      }
      guard let b = best else { break }
      try body(heads[b]!.plan, heads[b]!.json)
      heads[b] = try readers[b].next()
    }
  }

  /// Sorts the lines held and writes them to a file with no name.
  private func spillRun() throws {
    guard let spill, !lines.isEmpty else { return }
    lines.sort(by: <)
    var template = Array(spill.appendingPathComponent(".scenarios-XXXXXX").path.utf8CString)
    let fd = mkstemp(&template)
    guard fd >= 0 else {
      throw ResultsError(message: "\(spill.path): cannot make a temporary file (\(String(cString: strerror(errno))))")
    }
    unlink(String(cString: template))
    runs.append(fd)
    var out: [UInt8] = []
    out.reserveCapacity(1 << 20)
    func flush() throws {
      var at = 0
      while at < out.count {
        let n = out.withUnsafeBytes { write(fd, $0.baseAddress! + at, out.count - at) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else {
          throw ResultsError(message: "\(spill.path): cannot write (\(String(cString: strerror(errno))))")
        }
        at += n
      }
      out.removeAll(keepingCapacity: true)
    }
    for l in lines {
      RunReader.put(&out, UInt64(l.plan))
      RunReader.put(&out, UInt64(bitPattern: Int64(l.index)))
      RunReader.put(&out, UInt64(bitPattern: Int64(l.child)))
      RunReader.put(&out, l.seed)
      let key = Array(l.key.utf8)
      RunReader.put(&out, UInt64(key.count))
      out += key
      RunReader.put(&out, UInt64(l.json.count))
      out += l.json
      if out.count >= 1 << 20 { try flush() }
    }
    try flush()
    lines.removeAll(keepingCapacity: true)
    guard lseek(fd, 0, SEEK_SET) == 0 else {
      throw ResultsError(message: "\(spill.path): cannot read back (\(String(cString: strerror(errno))))")
    }
  }

  /// One spilled run, read back in order.
  private struct RunReader {
    let fd: Int32
    var buffer: [UInt8]
    var start = 0
    var end = 0

    init(fd: Int32, buffer size: Int) throws {
      self.fd = fd
      buffer = [UInt8](repeating: 0, count: size)
    }

    static func put(_ out: inout [UInt8], _ v: UInt64) {
      withUnsafeBytes(of: v.littleEndian) { out += $0 }
    }

    /// Makes `n` bytes available from `start`; false at the end of the file.
    mutating func fill(_ n: Int) throws -> Bool {
      if end - start >= n { return true }
      if start > 0 {
        buffer.withUnsafeMutableBytes { b in
          _ = memmove(b.baseAddress!, b.baseAddress! + start, end - start)
        }
        end -= start
        start = 0
      }
      if buffer.count < n { buffer += [UInt8](repeating: 0, count: n - buffer.count) }
      while end < n {
        let got = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + end, $0.count - end) }
        if got < 0 && errno == EINTR { continue }
        if got < 0 { throw ResultsError(message: "reading sorted scenarios back: \(String(cString: strerror(errno)))") }
        if got == 0 { return false }
        end += got
      }
      return true
    }

    mutating func word() throws -> UInt64? {
      guard try fill(8) else { return nil }
      var v: UInt64 = 0
      withUnsafeMutableBytes(of: &v) { $0.copyBytes(from: buffer[start..<start + 8]) }
      start += 8
      return UInt64(littleEndian: v)
    }

    mutating func bytes(_ n: Int) throws -> [UInt8] {
      guard try fill(n) else { throw ResultsError(message: "reading sorted scenarios back: the file ends early") }
      defer { start += n }
      return Array(buffer[start..<start + n])
    }

    mutating func next() throws -> Line? {
      guard let plan = try word() else { return nil }
      guard let index = try word(), let child = try word(), let seed = try word(), let keyCount = try word() else {
        throw ResultsError(message: "reading sorted scenarios back: the file ends early")
      }
      let key = String(decoding: try bytes(Int(keyCount)), as: UTF8.self)
      guard let jsonCount = try word() else {
        throw ResultsError(message: "reading sorted scenarios back: the file ends early")
      }
      return Line(
        plan: Int(plan), index: Int(Int64(bitPattern: index)), child: Int(Int64(bitPattern: child)), seed: seed,
        key: key, json: try bytes(Int(jsonCount)))
    }
  }
}

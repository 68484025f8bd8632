import Foundation

/// A reply of the guest agent: `DONE id=N rc=E [data=…]`, `RES id=N rc=E [out=…] [status=…]`,
/// `READY agent=1 kernel=…`, or `ERR what=…`.
struct GuestReply: Sendable {
  let verb: String
  let fields: [String: String]
  var id: Int { fields["id"].flatMap(Int.init) ?? -1 }
  /// The errno the guest returned (0: success); nil when the reply carries none (not a reply
  /// the agent makes: the caller treats it as a broken channel, never as an errno).
  var rcField: Int32? { fields["rc"].flatMap(Int32.init) }
  /// `rcField`, for replies already checked to carry one (-1 otherwise).
  var rc: Int32 { rcField ?? -1 }
  /// A base64 field decoded (`data` of a read, `out` of a query).
  func bytes(_ key: String) -> [UInt8]? {
    guard let b = fields[key] else { return nil }
    return Data(base64Encoded: b).map { [UInt8]($0) }
  }
  func text(_ key: String) -> String? { bytes(key).map { String(decoding: $0, as: UTF8.self) } }
}

/// Why the guest did not answer.
enum GuestSilence: Error, CustomStringConvertible {
  /// No reply within the deadline.
  case timedOut(String)
  /// The channel closed: the machine is gone (powered off, crashed, killed).
  case closed(String)
  var description: String {
    switch self {
    case .timedOut(let what): "the guest did not answer \(what) in time"
    case .closed(let what): "the guest machine went away during \(what)"
    }
  }
}

/// The line protocol with the guest agent over a pipe pair (UML's con1): requests out, replies in
/// by id, in any order. Not thread-safe: one scenario drives a machine at a time.
final class GuestChannel: @unchecked Sendable {
  private let toGuest: Int32
  private let fromGuest: Int32
  private var buffer: [UInt8] = []
  private var nextID = 1
  /// Replies read but not yet asked for.
  private var arrived: [Int: GuestReply] = [:]
  private(set) var closed = false
  /// The longest reply line accepted (a read of a large file); longer is a broken guest.
  static let maxLine = 256 << 20

  init(toGuest: Int32, fromGuest: Int32) {
    self.toGuest = toGuest
    self.fromGuest = fromGuest
  }

  deinit {
    close(toGuest)
    close(fromGuest)
  }

  /// Percent-encodes a value so it holds no space, newline, `=` or `%`.
  static func encode(_ s: String) -> String {
    var out = ""
    for b in s.utf8 {
      if b > 0x20 && b < 0x7F && b != UInt8(ascii: "%") && b != UInt8(ascii: "=") {
        out.unicodeScalars.append(Unicode.Scalar(b))
      } else {
        out += String(format: "%%%02X", b)
      }
    }
    return out
  }

  /// Sends `VERB id=N key=value…` and returns N.
  @discardableResult
  func send(_ verb: String, _ fields: [(String, String)]) throws -> Int {
    let id = nextID
    nextID += 1
    var line = "\(verb) id=\(id)"
    for (k, v) in fields { line += " \(k)=\(Self.encode(v))" }
    line += "\n"
    try write(Array(line.utf8))
    return id
  }

  func sendRaw(_ line: String) throws { try write(Array((line + "\n").utf8)) }

  private func write(_ bytes: [UInt8]) throws {
    var done = 0
    // Bounded: each pass writes something or fails.
    while done < bytes.count {
      let n = bytes[done...].withUnsafeBytes { Glibc.write(toGuest, $0.baseAddress!, $0.count) }
      if n < 0 && errno == EINTR { continue }
      guard n > 0 else {
        closed = true
        throw GuestSilence.closed("a request")
      }
      done += n
    }
  }

  /// The reply to request `id`, waiting until `deadline` (monotonic nanoseconds).
  func reply(_ id: Int, deadline: UInt64, what: @autoclosure () -> String) throws -> GuestReply {
    // Bounded by the deadline: each pass reads or waits until it.
    while true {
      if let r = arrived.removeValue(forKey: id) { return r }
      guard try readSome(until: deadline) else { throw GuestSilence.timedOut(what()) }
    }
  }

  /// Whether the reply to `id` is here.
  func hasReply(_ id: Int) -> Bool { arrived[id] != nil }

  /// A reply already here for `id`, without waiting.
  func take(_ id: Int) -> GuestReply? { arrived.removeValue(forKey: id) }

  /// Waits until some reply arrives (true) or the deadline passes (false).
  func waitForAny(until deadline: UInt64) throws -> Bool {
    let before = arrived.count
    while arrived.count == before {
      guard try readSome(until: deadline) else { return false }
    }
    return true
  }

  /// The next line whose verb is `verb` (READY at boot), skipping nothing else.
  func line(_ verb: String, deadline: UInt64) throws -> GuestReply {
    while true {
      if let k = arrived.first(where: { $0.value.verb == verb })?.key { return arrived.removeValue(forKey: k)! }
      guard try readSome(until: deadline) else { throw GuestSilence.timedOut(verb) }
    }
  }

  /// Reads what is there (waiting at most until `deadline`) and files complete lines by id.
  /// False when the deadline passed with nothing new.
  private func readSome(until deadline: UInt64) throws -> Bool {
    guard !closed else { throw GuestSilence.closed("a reply") }
    let now = DispatchTime.now().uptimeNanoseconds
    guard now < deadline else { return false }
    var p = pollfd(fd: fromGuest, events: Int16(POLLIN), revents: 0)
    let ms = Int32(min(1000, (deadline - now) / 1_000_000 + 1))
    let ready = poll(&p, 1, ms)
    if ready < 0 && errno == EINTR { return true }
    if ready <= 0 { return DispatchTime.now().uptimeNanoseconds < deadline ? true : false }
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    let n = chunk.withUnsafeMutableBytes { read(fromGuest, $0.baseAddress!, $0.count) }
    if n < 0 && (errno == EINTR || errno == EAGAIN) { return true }
    guard n > 0 else {
      closed = true
      throw GuestSilence.closed("a reply")
    }
    let start = buffer.count
    buffer.append(contentsOf: chunk[0..<n])
    var from = 0
    for i in start..<buffer.count where buffer[i] == 0x0A {
      file(Array(buffer[from..<i]))
      from = i + 1
    }
    if from > 0 { buffer.removeFirst(from) }
    if buffer.count > Self.maxLine {
      closed = true
      throw GuestSilence.closed("a reply longer than \(Self.maxLine) bytes")
    }
    return true
  }

  private func file(_ line: [UInt8]) {
    let text = String(decoding: line, as: UTF8.self)
    let tokens = text.split(separator: " ", omittingEmptySubsequences: true)
    guard let verb = tokens.first else { return }
    var fields: [String: String] = [:]
    for t in tokens.dropFirst() {
      guard let eq = t.firstIndex(of: "=") else { continue }
      fields[String(t[..<eq])] = String(t[t.index(after: eq)...])
    }
    let r = GuestReply(verb: String(verb), fields: fields)
    // READY and ERR carry no id: keep them under negative keys, oldest first.
    let key = r.id >= 0 ? r.id : -(arrived.keys.filter { $0 < 0 }.count + 1)
    arrived[key] = r
  }
}

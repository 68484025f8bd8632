/// A POSIX error number as a type: named statics, Codable as its name, and pattern-matchable
/// against any thrown error (`catch Errno.noSpace` matches an injected ENOSPC as well).
public struct Errno: RawRepresentable, Hashable, Comparable, Sendable, Error, CustomStringConvertible {
  public let rawValue: Int32
  public init(rawValue: Int32) { self.rawValue = rawValue }

  public static let notPermitted = Errno(rawValue: 1)
  public static let noEntry = Errno(rawValue: 2)
  public static let interrupted = Errno(rawValue: 4)
  public static let io = Errno(rawValue: 5)
  public static let badFile = Errno(rawValue: 9)
  public static let again = Errno(rawValue: 11)
  public static let noMemory = Errno(rawValue: 12)
  public static let fault = Errno(rawValue: 14)
  public static let busy = Errno(rawValue: 16)
  public static let exists = Errno(rawValue: 17)
  public static let invalid = Errno(rawValue: 22)
  public static let fileTooLarge = Errno(rawValue: 27)
  public static let noSpace = Errno(rawValue: 28)
  public static let readOnly = Errno(rawValue: 30)
  public static let deadlock = Errno(rawValue: 35)
  public static let quota = Errno(rawValue: 122)
  public static let corrupted = Errno(rawValue: 117)  // EUCLEAN, as filesystems use it

  /// Every errno this type names, in numeric order: the vocabulary of plans.
  public static let named: [Errno] = [
    .notPermitted, .noEntry, .interrupted, .io, .tooBig, .badFile, .again, .noMemory, .fault, .busy, .exists,
    .notDirectory, .isDirectory, .invalid, .fileTooLarge, .noSpace, .readOnly, .tooManyLinks, .range, .deadlock,
    .nameTooLong, .notEmpty, .noData, .overflow, .notSupported, .corrupted, .quota,
  ]
  public static let tooBig = Errno(rawValue: 7)
  public static let notDirectory = Errno(rawValue: 20)
  public static let isDirectory = Errno(rawValue: 21)
  public static let tooManyLinks = Errno(rawValue: 31)
  public static let range = Errno(rawValue: 34)
  public static let nameTooLong = Errno(rawValue: 36)
  public static let notEmpty = Errno(rawValue: 39)
  public static let noData = Errno(rawValue: 61)
  public static let overflow = Errno(rawValue: 75)
  public static let notSupported = Errno(rawValue: 95)

  /// The symbolic name, `ENOSPC`.
  public var name: String {
    switch rawValue {
    case 1: "EPERM"
    case 2: "ENOENT"
    case 4: "EINTR"
    case 5: "EIO"
    case 7: "E2BIG"
    case 9: "EBADF"
    case 11: "EAGAIN"
    case 12: "ENOMEM"
    case 14: "EFAULT"
    case 16: "EBUSY"
    case 17: "EEXIST"
    case 20: "ENOTDIR"
    case 21: "EISDIR"
    case 22: "EINVAL"
    case 27: "EFBIG"
    case 28: "ENOSPC"
    case 30: "EROFS"
    case 31: "EMLINK"
    case 34: "ERANGE"
    case 35: "EDEADLK"
    case 36: "ENAMETOOLONG"
    case 39: "ENOTEMPTY"
    case 61: "ENODATA"
    case 75: "EOVERFLOW"
    case 95: "EOPNOTSUPP"
    case 117: "EUCLEAN"
    case 122: "EDQUOT"
    default: "E\(rawValue)"
    }
  }

  /// Looks an errno up by its symbolic name (`ENOSPC`), case-sensitively.
  public init?(name: String) {
    guard let found = Errno.named.first(where: { $0.name == name }) else { return nil }
    self = found
  }

  public var description: String { name }
  public static func < (a: Errno, b: Errno) -> Bool { a.rawValue < b.rawValue }

  /// Lets `catch Errno.noSpace` match both a plain `Errno` and an `FSError` carrying it.
  public static func ~= (pattern: Errno, error: any Error) -> Bool {
    if let e = error as? Errno { return e == pattern }
    if let e = error as? FSError { return e.errno == pattern }
    return false
  }
}

extension Errno: Codable {
  public init(from decoder: any Decoder) throws {
    let c = try decoder.singleValueContainer()
    let s = try c.decode(String.self)
    // A number without a name is written `E75`: read it back as that number.
    if s.hasPrefix("E"), let n = Int32(s.dropFirst()) {
      self.init(rawValue: n)
      return
    }
    guard let e = Errno(name: s) else {
      throw DecodingError.dataCorruptedError(in: c, debugDescription: "unknown errno \(s)")
    }
    self = e
  }
  public func encode(to encoder: any Encoder) throws {
    var c = encoder.singleValueContainer()
    try c.encode(name)
  }
}

/// Where an injected error came from: the fault point and the hit that fired.
public struct HitRef: Hashable, Sendable, Codable, CustomStringConvertible {
  public let point: String
  public let hit: Int
  public init(point: String, hit: Int) {
    self.point = point
    self.hit = hit
  }
  public var description: String { "\(point)#\(hit)" }
}

/// The error engines throw from operations: an errno, marked when a fault injected it, so output
/// tells an injected ENOSPC from a real one.
public struct FSError: Error, Hashable, Sendable, CustomStringConvertible {
  public let errno: Errno
  /// The hit that injected this error, or nil for an error the engine produced itself.
  public let injected: HitRef?
  public init(_ errno: Errno, injected: HitRef? = nil) {
    self.errno = errno
    self.injected = injected
  }
  public var description: String {
    injected.map { "\(errno.name) (injected at \($0))" } ?? errno.name
  }
}

extension Error {
  /// The errno this error carries, if it is an `FSError` or an `Errno`.
  public var fsError: FSError? {
    if let e = self as? FSError { return e }
    if let e = self as? Errno { return FSError(e) }
    return nil
  }
}

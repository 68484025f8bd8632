/// The file names of a run's repro plans (`repro/NAME.yaml`): made of letters, digits, `.`, `_`
/// and `-` only, short enough for any filesystem whatever the plan's name, and one per failure
/// even when plan names differ only in characters that cannot be in a file name (`x 1`, `x<1`,
/// `x>1`) or two plans share a name. The same failures in the same order get the same names.
struct ReproFileNames {
  /// Characters of the name kept before a hash stands for the rest (a name's 255-byte limit
  /// leaves room for `-repro-N`, the hash and `.yaml`).
  static let kept = 96
  private var used: Set<String> = []

  /// `repro/<stem>.yaml` for the repro plan named `name`, not given before.
  mutating func path(for name: String) -> String {
    let stem = Self.stem(name)
    var candidate = stem
    // Each try adds one name to `used`; at most `used.count + 1` tries.
    var n = 2
    while used.contains(candidate) {
      candidate = "\(stem)-\(n)"
      n += 1
    }
    used.insert(candidate)
    return "repro/\(candidate).yaml"
  }

  /// `name` as a file name: unsafe characters become `_`; a name that lost characters that way,
  /// or was cut to `kept`, gets a hash of the whole name, so different names stay different.
  static func stem(_ name: String) -> String {
    var s = String(
      name.unicodeScalars.map { u in
        (u.isASCII && (u.properties.isAlphabetic || ("0"..."9").contains(u) || "._-".unicodeScalars.contains(u)))
          ? Character(u) : "_"
      })
    if s.hasPrefix(".") { s = "_" + s.dropFirst() }
    guard s != name || s.count > kept else { return s }
    return String(s.prefix(kept)) + "-" + hash(name)
  }

  /// FNV-1a of the UTF-8 bytes, as 8 hex digits: the same in every process (Swift's `Hasher` is
  /// seeded per process).
  static func hash(_ name: String) -> String {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    for b in name.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
    let s = String(h & 0xFFFF_FFFF, radix: 16)
    return String(repeating: "0", count: 8 - s.count) + s
  }
}

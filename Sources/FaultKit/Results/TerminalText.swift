/// Strings from plans and engines, made safe to print on a terminal. A plan name, a task name, a
/// path or a value an engine reports is data: it must not move the cursor, clear the screen, set
/// the window title, start a new line that reads like our own (`PASS …`), or reorder what follows
/// it on the line. Every such string passes through `visible` before it reaches a terminal.
public enum TerminalText {
  /// `s` with every character a terminal would act on instead of show written as `\u{…}`:
  /// C0 controls (newline, tab and ESC included) and DEL; C1 controls (U+0080–U+009F, CSI among
  /// them); format characters (general category Cf: the bidi embeddings and overrides
  /// U+202A–U+202E, the isolates U+2066–U+2069, the marks U+200E/U+200F and U+061C, zero-width
  /// characters, U+FEFF); and the line and paragraph separators U+2028/U+2029. Everything else
  /// is kept, so a name in any script prints as written. Idempotent: escaping twice changes
  /// nothing more.
  public static func visible(_ s: String) -> String {
    guard s.unicodeScalars.contains(where: acts) else { return s }
    var out = ""
    out.reserveCapacity(s.utf8.count + 16)
    for u in s.unicodeScalars {
      if acts(u) {
        out += "\\u{\(String(u.value, radix: 16))}"
      } else {
        out.unicodeScalars.append(u)
      }
    }
    return out
  }

  /// Each line of `s` escaped on its own: for messages that are several lines on purpose (a list
  /// of plan errors) but whose parts came from plans.
  public static func visibleLines(_ s: String) -> String {
    s.split(separator: "\n", omittingEmptySubsequences: false).map { visible(String($0)) }.joined(separator: "\n")
  }

  /// Whether a terminal would act on `u` rather than show it.
  static func acts(_ u: Unicode.Scalar) -> Bool {
    let v = u.value
    if v >= 0x20 && v < 0x7F { return false }
    if v < 0x20 || (0x7F...0x9F).contains(v) { return true }
    switch u.properties.generalCategory {
    case .format, .control, .lineSeparator, .paragraphSeparator: return true
    default: return false
    }
  }
}

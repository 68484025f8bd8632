import FaultKit

/// Escaping for XML and HTML text and attributes. Every string from plans and engines passes
/// through here: a plan named `<script>alert(1)</script>` renders as those characters.
public enum Markup {
  /// Text or a quoted attribute value: `& < > " '` become entities; characters XML 1.0 cannot
  /// carry at all (C0 controls other than tab, newline and return; U+FFFE, U+FFFF; lone
  /// surrogates cannot occur in a Swift String) become a visible `\u{1}`. In attributes, tab and
  /// newline become character references so a parser does not normalise them to spaces.
  public static func escape(_ s: String, attribute: Bool = false) -> String {
    var out = ""
    out.reserveCapacity(s.utf8.count)
    for u in s.unicodeScalars {
      switch u {
      case "&": out += "&amp;"
      case "<": out += "&lt;"
      case ">": out += "&gt;"
      case "\"": out += "&quot;"
      case "'": out += "&#39;"
      case "\n" where attribute: out += "&#10;"
      case "\t" where attribute: out += "&#9;"
      case "\r": out += "&#13;"
      case "\t", "\n": out.unicodeScalars.append(u)
      default:
        if u.value < 0x20 || u.value == 0x7F || u.value == 0xFFFE || u.value == 0xFFFF
          || (0x80...0x9F).contains(u.value)
        {
          out += "\\u{\(String(u.value, radix: 16))}"
        } else {
          out.unicodeScalars.append(u)
        }
      }
    }
    return out
  }
}

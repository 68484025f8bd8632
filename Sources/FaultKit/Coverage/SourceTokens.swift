/// The tokens of a Swift or C source file, with comments, string and character literals and (in
/// C) preprocessor lines left out, each with its 1-based line and byte column (the columns
/// llvm-cov's coverage segments use).
///
/// Checks: enough of each language's lexical grammar to never take a word inside a comment or a
/// string for code: Swift's nested block comments, escapes, interpolations (with strings inside
/// them), multi-line and raw (`#"…"#`) strings; C's comments, string and character literals and
/// preprocessor lines with their continuations. Does not check: Swift regex literals (`/…/` is read
/// as operators; no engine source uses one) or C trigraphs.
public struct SourceTokens: Sendable {
  public enum Language: String, Sendable, Codable {
    case swift
    case c
  }

  /// One token: an identifier or keyword, a number, or one punctuation character.
  public struct Token: Sendable, Equatable {
    public let text: String
    public let line: Int
    public let column: Int
  }

  public let tokens: [Token]

  /// Tokenizes `source` as `language`.
  public init(_ source: String, language: Language) {
    var lexer = Lexer(Array(source.utf8), language: language)
    tokens = lexer.run()
  }
}

/// The scanner behind `SourceTokens`: one pass over the bytes, every loop advancing.
private struct Lexer {
  let bytes: [UInt8]
  let language: SourceTokens.Language
  var i = 0
  var line = 1
  var lineStart = 0
  var out: [SourceTokens.Token] = []
  /// At the start of a line, but for blanks (where a C preprocessor line may begin).
  var atLineStart = true

  init(_ bytes: [UInt8], language: SourceTokens.Language) {
    self.bytes = bytes
    self.language = language
  }

  func peek(_ k: Int = 0) -> UInt8? { i + k < bytes.count ? bytes[i + k] : nil }

  mutating func advance() {
    if bytes[i] == UInt8(ascii: "\n") {
      line += 1
      lineStart = i + 1
      atLineStart = true
    }
    i += 1
  }

  static func isIdentifierStart(_ b: UInt8) -> Bool {
    (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F || b >= 0x80
  }
  static func isIdentifierPart(_ b: UInt8) -> Bool { isIdentifierStart(b) || (b >= 0x30 && b <= 0x39) }

  mutating func run() -> [SourceTokens.Token] {
    while i < bytes.count { step() }
    return out
  }

  mutating func step() {
    let b = bytes[i]
    if b == UInt8(ascii: "\n") || b == UInt8(ascii: " ") || b == UInt8(ascii: "\t") || b == UInt8(ascii: "\r") {
      advance()
      return
    }
    if b == UInt8(ascii: "/") && peek(1) == UInt8(ascii: "/") {
      while i < bytes.count && bytes[i] != UInt8(ascii: "\n") { advance() }
      return
    }
    if b == UInt8(ascii: "/") && peek(1) == UInt8(ascii: "*") {
      blockComment()
      return
    }
    if language == .c && b == UInt8(ascii: "#") && atLineStart {
      preprocessorLine()
      return
    }
    atLineStart = false
    if language == .swift && (b == UInt8(ascii: "\"") || (b == UInt8(ascii: "#") && rawStringAhead())) {
      swiftString()
      return
    }
    if language == .c && (b == UInt8(ascii: "\"") || b == UInt8(ascii: "'")) {
      cLiteral(quote: b)
      return
    }
    let start = i
    let column = i - lineStart + 1
    if Self.isIdentifierStart(b) || (b >= 0x30 && b <= 0x39) {
      while i < bytes.count && Self.isIdentifierPart(bytes[i]) { i += 1 }
    } else {
      i += 1
    }
    out.append(.init(text: String(decoding: bytes[start..<i], as: UTF8.self), line: line, column: column))
  }

  /// `/* … */`, nested in Swift; an unterminated one runs to the end.
  mutating func blockComment() {
    var depth = 0
    while i < bytes.count {
      if bytes[i] == UInt8(ascii: "/") && peek(1) == UInt8(ascii: "*") {
        depth += 1
        i += 2
        if language == .c && depth > 1 { depth = 1 }
        continue
      }
      if bytes[i] == UInt8(ascii: "*") && peek(1) == UInt8(ascii: "/") {
        depth -= 1
        i += 2
        if depth == 0 { return }
        continue
      }
      advance()
    }
  }

  /// A C preprocessor line, with its backslash continuations (comments in it are skipped too).
  mutating func preprocessorLine() {
    while i < bytes.count {
      if bytes[i] == UInt8(ascii: "\\") && peek(1) == UInt8(ascii: "\n") {
        i += 1
        advance()
        continue
      }
      if bytes[i] == UInt8(ascii: "/") && peek(1) == UInt8(ascii: "*") {
        blockComment()
        continue
      }
      if bytes[i] == UInt8(ascii: "\n") { return }
      i += 1
    }
  }

  /// A C string or character literal; it ends at its quote or (unterminated) at the line's end.
  mutating func cLiteral(quote: UInt8) {
    i += 1
    while i < bytes.count {
      let b = bytes[i]
      if b == UInt8(ascii: "\\") && i + 1 < bytes.count {
        i += 1
        advance()
        continue
      }
      if b == quote {
        i += 1
        return
      }
      if b == UInt8(ascii: "\n") { return }
      i += 1
    }
  }

  /// `#…#"` ahead: a raw string's opening.
  func rawStringAhead() -> Bool {
    var k = i
    while k < bytes.count && bytes[k] == UInt8(ascii: "#") { k += 1 }
    return k < bytes.count && bytes[k] == UInt8(ascii: "\"")
  }

  /// A Swift string literal from its opening (`#`s, then `"` or `"""`) to its closing; the code
  /// in its interpolations is tokenized as code.
  mutating func swiftString() {
    var hashes = 0
    while i < bytes.count && bytes[i] == UInt8(ascii: "#") {
      hashes += 1
      i += 1
    }
    let multiline = peek() == UInt8(ascii: "\"") && peek(1) == UInt8(ascii: "\"") && peek(2) == UInt8(ascii: "\"")
    i += multiline ? 3 : 1
    while i < bytes.count {
      let b = bytes[i]
      if b == UInt8(ascii: "\\") && hashesFollow(i + 1, hashes) {
        let after = i + 1 + hashes
        if after < bytes.count && bytes[after] == UInt8(ascii: "(") {
          i = after + 1
          interpolation()
          continue
        }
        i = after
        if i < bytes.count { advance() }
        continue
      }
      if b == UInt8(ascii: "\"") {
        let quotes = multiline ? 3 : 1
        var k = 0
        while k < quotes && i + k < bytes.count && bytes[i + k] == UInt8(ascii: "\"") { k += 1 }
        if k == quotes && hashesFollow(i + quotes, hashes) {
          i += quotes + hashes
          return
        }
        i += max(1, k)
        continue
      }
      if b == UInt8(ascii: "\n") && !multiline { return }
      advance()
    }
  }

  func hashesFollow(_ at: Int, _ n: Int) -> Bool {
    guard at + n <= bytes.count else { return false }
    for k in 0..<n where bytes[at + k] != UInt8(ascii: "#") { return false }
    return true
  }

  /// The code of `\( … )` up to its closing parenthesis, as tokens.
  mutating func interpolation() {
    var depth = 1
    while i < bytes.count {
      let b = bytes[i]
      if b == UInt8(ascii: ")") && depth == 1 {
        i += 1
        return
      }
      let before = out.count
      step()
      for t in out[before...] {
        if t.text == "(" { depth += 1 } else if t.text == ")" { depth -= 1 }
      }
    }
  }
}

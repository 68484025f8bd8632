/// The error-handling sites of source files: where an engine's code handles or raises an error,
/// each at the token whose execution count says the site ran (what error-handler coverage counts).
///
/// Swift sites:
/// - `catch`: a catch clause, at its body's `{`;
/// - `throw`: a throw statement, at `throw`;
/// - `failure-return`: `return .failure(…)`, at `return`;
/// - `fail-branch`: the branch an injected failure takes (`if case .fail… {`, or a switch's
///   `case .fail…:` arm), at the `if` body's `{` or the arm's first statement, unless that is a
///   `throw` (counted as such).
///
/// C sites:
/// - `error-branch`: an `if` whose condition tests an error (an `errcode_t` variable or one named
///   rc, err, ret, retval, error or errcode being set: `V`, `V = f()`, `V != 0`, `(V = f()) != 0`,
///   `V == E…`; or `X < 0`; as the whole condition
///   or one of its `&&` terms), or whose body exits with an error (`return` of an E… or EXT2_ET_
///   constant, `errno`, `NULL`, a negative value or an error variable; or a `goto`), at the body's
///   first token; and the `else` of `if (!V)` / `if (V == 0)` for an error variable V;
/// - `goto`: a `goto` outside such a branch (an unwind to a cleanup label), at `goto`.
///
/// Each site carries the `ErrorPathMarker` a comment over it gives, if any.
///
/// Checks: tokens, never comments or strings (`SourceTokens`). Does not check: `try?` (its nil
/// path has no region of its own in the coverage mapping), `guard … else { return nil }` and
/// other "no value" returns (not errors by their form), error paths through macros in C.
public enum ErrorHandlerInventory {
  /// The sites of one file's `source`, in source order; `file` is how sites name it.
  public static func sites(in source: String, file: String, language: SourceTokens.Language) -> [ErrorHandlerSite] {
    let tokens = SourceTokens(source, language: language).tokens
    let markers = ErrorPathMarker.markers(in: source)
    var found: [ErrorHandlerSite] = []
    var seen = Set<Int>()
    func add(_ t: SourceTokens.Token, _ kind: ErrorHandlerSite.Kind) {
      let key = t.line &* 100_000 &+ t.column
      guard seen.insert(key).inserted else { return }
      found.append(ErrorHandlerSite(file: file, line: t.line, column: t.column, kind: kind, marker: markers[t.line]))
    }
    switch language {
    case .swift: SwiftSites(tokens: tokens).find(add)
    case .c: CSites(tokens: tokens).find(add)
    }
    return found.sorted()
  }
}

/// Where a brace, parenthesis or bracket closes, for every opening one.
private func matching(_ tokens: [SourceTokens.Token]) -> [Int: Int] {
  var stack: [Int] = []
  var out: [Int: Int] = [:]
  for (k, t) in tokens.enumerated() {
    switch t.text {
    case "(", "{", "[": stack.append(k)
    case ")", "}", "]": if let o = stack.popLast() { out[o] = k }
    default: break
    }
  }
  return out
}

private struct SwiftSites {
  let tokens: [SourceTokens.Token]

  func text(_ k: Int) -> String? { k >= 0 && k < tokens.count ? tokens[k].text : nil }

  /// The first `{` after `from` outside parentheses and brackets (a clause's body), bounded by the file.
  func bodyBrace(after from: Int) -> Int? {
    var depth = 0
    var k = from
    while k < tokens.count {
      switch tokens[k].text {
      case "(", "[": depth += 1
      case ")", "]": depth -= 1
      case "{" where depth == 0: return k
      case "}" where depth == 0: return nil
      default: break
      }
      k += 1
    }
    return nil
  }

  func find(_ add: (SourceTokens.Token, ErrorHandlerSite.Kind) -> Void) {
    for k in tokens.indices {
      let t = tokens[k].text
      let member = text(k - 1) == "."
      switch t {
      case "catch" where !member:
        if let b = bodyBrace(after: k + 1) { add(tokens[b], .catchClause) }
      case "throw" where !member:
        add(tokens[k], .throwStatement)
      case "return" where text(k + 1) == "." && text(k + 2) == "failure":
        add(tokens[k], .failureReturn)
      case "case" where text(k + 1) == "." && text(k + 2) == "fail":
        if text(k - 1) == "if" {
          // `if case .fail… = … {`: the body.
          guard let b = bodyBrace(after: k + 1), b + 1 < tokens.count else { continue }
          if tokens[b + 1].text != "throw" { add(tokens[b], .failBranch) }
        } else if let colon = armColon(after: k + 1), colon + 1 < tokens.count {
          // A switch arm: its first statement.
          let first = tokens[colon + 1]
          if first.text != "throw" && first.text != "case" && first.text != "default" && first.text != "}" {
            add(first, .failBranch)
          }
        }
      default: break
      }
    }
  }

  /// The `:` that ends a switch arm's patterns, outside parentheses.
  func armColon(after from: Int) -> Int? {
    var depth = 0
    var k = from
    while k < tokens.count {
      switch tokens[k].text {
      case "(", "[": depth += 1
      case ")", "]": depth -= 1
      case ":" where depth == 0: return k
      case "{", "}", "=": return nil
      default: break
      }
      k += 1
    }
    return nil
  }
}

private struct CSites {
  let tokens: [SourceTokens.Token]
  let close: [Int: Int]
  /// Names declared `errcode_t` in the file, and the usual names of an error result.
  let errorVariables: Set<String>

  init(tokens: [SourceTokens.Token]) {
    self.tokens = tokens
    close = matching(tokens)
    var names: Set<String> = ["rc", "err", "ret", "retval", "error", "errcode"]
    for k in tokens.indices where tokens[k].text == "errcode_t" {
      // `errcode_t a = …, b;` and parameters `errcode_t code`.
      var j = k + 1
      var depth = 0
      var expectName = true
      while j < tokens.count {
        let t = tokens[j].text
        if t == "(" || t == "[" || t == "{" { depth += 1 }
        if t == ")" || t == "]" || t == "}" {
          if depth == 0 { break }
          depth -= 1
        }
        if depth == 0 && (t == ";") { break }
        if depth == 0 && t == "," { expectName = true }
        if expectName && depth == 0 && t != "*" && t != "," && Self.isIdentifier(t) {
          if tokens.indices.contains(j + 1), tokens[j + 1].text == "(" { break }  // a function returning errcode_t
          names.insert(t)
          expectName = false
        }
        j += 1
      }
    }
    errorVariables = names
  }

  static func isIdentifier(_ t: String) -> Bool {
    guard let f = t.utf8.first else { return false }
    return (f >= 0x41 && f <= 0x5A) || (f >= 0x61 && f <= 0x7A) || f == 0x5F
  }

  static func isErrorConstant(_ t: String) -> Bool {
    if t.hasPrefix("EXT2_ET_") { return true }
    guard t.count >= 2, t.first == "E" else { return false }
    return t.dropFirst().allSatisfy { ($0 >= "A" && $0 <= "Z") || ($0 >= "0" && $0 <= "9") || $0 == "_" }
      && !t.hasPrefix("EXIT_") && t != "EOF"
  }

  /// The statement starting at `k`: its tokens' range (a braced block is one statement).
  func statement(at k: Int) -> Range<Int> {
    if tokens[k].text == "{", let c = close[k] { return k..<(c + 1) }
    if ["if", "for", "while", "switch"].contains(tokens[k].text), k + 1 < tokens.count, let c = close[k + 1] {
      guard c + 1 < tokens.count else { return k..<(c + 1) }
      let body = statement(at: c + 1)
      if tokens[k].text == "if", body.upperBound < tokens.count, tokens[body.upperBound].text == "else" {
        return k..<statement(at: body.upperBound + 1).upperBound
      }
      return k..<body.upperBound
    }
    var depth = 0
    var j = k
    while j < tokens.count {
      let t = tokens[j].text
      if t == "(" || t == "[" || t == "{" { depth += 1 }
      if t == ")" || t == "]" || t == "}" { depth -= 1 }
      if depth < 0 { return k..<j }
      if t == ";" && depth == 0 { return k..<(j + 1) }
      j += 1
    }
    return k..<tokens.count
  }

  /// Does the statement range exit with an error at its own level (`return E…`, `goto`)?
  func exitsWithError(_ r: Range<Int>) -> Bool {
    var starts: [Int] = []
    if tokens[r.lowerBound].text == "{" {
      var j = r.lowerBound + 1
      while j < r.upperBound - 1 {
        starts.append(j)
        j = max(j + 1, statement(at: j).upperBound)
      }
    } else {
      starts = [r.lowerBound]
    }
    for s in starts {
      let t = tokens[s].text
      if t == "goto" { return true }
      guard t == "return" else { continue }
      let value = statement(at: s).dropFirst().map { tokens[$0].text }.filter { $0 != ";" }
      guard let first = value.first else { continue }
      if first == "-" && value.count >= 2 { return true }
      if value.contains(where: { Self.isErrorConstant($0) || $0 == "errno" || $0 == "NULL" }) { return true }
      if value.count == 1 && errorVariables.contains(first) { return true }
    }
    return false
  }

  /// Tokens of `open…close` (exclusive), without redundant outer parentheses.
  func stripped(_ r: Range<Int>) -> Range<Int> {
    var r = r
    while r.count >= 2, tokens[r.lowerBound].text == "(", close[r.lowerBound] == r.upperBound - 1 {
      r = (r.lowerBound + 1)..<(r.upperBound - 1)
    }
    return r
  }

  /// The condition's top-level `&&` terms.
  func conjuncts(_ r: Range<Int>) -> [Range<Int>] {
    var out: [Range<Int>] = []
    var depth = 0
    var start = r.lowerBound
    var j = r.lowerBound
    while j < r.upperBound {
      let t = tokens[j].text
      if t == "(" || t == "[" { depth += 1 }
      if t == ")" || t == "]" { depth -= 1 }
      if depth == 0 && t == "&" && j + 1 < r.upperBound && tokens[j + 1].text == "&" {
        out.append(start..<j)
        start = j + 2
        j += 2
        continue
      }
      if depth == 0 && t == "|" && j + 1 < r.upperBound && tokens[j + 1].text == "|" { return [] }
      j += 1
    }
    out.append(start..<r.upperBound)
    return out
  }

  /// A term that is true when an error is set: `V`, `V = …`, `V != 0`, `V == E…`, `X < 0`.
  func testsError(_ term: Range<Int>) -> Bool {
    let r = stripped(term)
    let t = r.map { tokens[$0].text }
    // `(V = f(…)) != 0`, `(V = f(…)) < 0`: the parenthesized assignment tested.
    if t.first == "(", let c = close[r.lowerBound], c + 1 < r.upperBound {
      let rest = ((c + 1)..<r.upperBound).map { tokens[$0].text }
      if rest == ["!", "=", "0"] || rest == ["<", "0"] { return testsError((r.lowerBound + 1)..<c) }
      return false
    }
    guard let v = t.first, Self.isIdentifier(v) else { return false }
    let isErrorVar = errorVariables.contains(v)
    if t.count == 1 { return isErrorVar }
    if t.count >= 3 && t[1] == "=" && t[2] != "=" { return isErrorVar }
    if t.count == 4 && t[1] == "!" && t[2] == "=" && t[3] == "0" { return isErrorVar }
    if t.count == 4 && t[1] == "=" && t[2] == "=" && Self.isErrorConstant(t[3]) { return isErrorVar }
    if t.count == 3 && t[1] == "<" && t[2] == "0" { return true }
    return false
  }

  /// The condition tests that an error variable is not set (`!V`, `!(V = …)`, `V == 0`).
  func testsSuccess(_ cond: Range<Int>) -> Bool {
    let r = stripped(cond)
    let t = r.map { tokens[$0].text }
    if t.first == "!" && r.count >= 2 {
      let rest = stripped((r.lowerBound + 1)..<r.upperBound).map { tokens[$0].text }
      return rest.first.map { errorVariables.contains($0) } == true && (rest.count == 1 || rest[1] == "=")
    }
    return t.count == 4 && errorVariables.contains(t[0]) && t[1] == "=" && t[2] == "=" && t[3] == "0"
  }

  func find(_ add: (SourceTokens.Token, ErrorHandlerSite.Kind) -> Void) {
    var inBranch = Set<Int>()
    for k in tokens.indices where tokens[k].text == "if" {
      guard k + 1 < tokens.count, tokens[k + 1].text == "(", let c = close[k + 1], c + 1 < tokens.count else {
        continue
      }
      let cond = (k + 2)..<c
      let body = statement(at: c + 1)
      let errorTest = conjuncts(cond).contains { testsError($0) }
      if errorTest || exitsWithError(body) {
        add(first(of: body), .errorBranch)
        for j in body { inBranch.insert(j) }
      }
      if body.upperBound < tokens.count, tokens[body.upperBound].text == "else", testsSuccess(cond),
        body.upperBound + 1 < tokens.count
      {
        let other = statement(at: body.upperBound + 1)
        add(first(of: other), .errorBranch)
        for j in other { inBranch.insert(j) }
      }
    }
    for k in tokens.indices where tokens[k].text == "goto" && !inBranch.contains(k) {
      add(tokens[k], .gotoStatement)
    }
  }

  /// A branch's first token: its `{` (where its coverage region starts), or its one statement.
  func first(of r: Range<Int>) -> SourceTokens.Token { tokens[r.lowerBound] }
}

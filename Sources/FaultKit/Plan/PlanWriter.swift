import Foundation

/// Writes a `Plan` as YAML the loader reads back to the same plan: how sweeps hand back each
/// failure as a repro file.
public enum PlanWriter {
  public static func yaml(_ plan: Plan) -> String {
    var out: [String] = []
    out.append("plan: \(scalar(plan.name))")
    out.append("engine: \(scalar(plan.engine))")
    if !plan.about.isEmpty { out.append("about: \(quoted(plan.about))") }
    if plan.seed != 0 { out.append("seed: \(plan.seed)") }
    if !plan.bugs.isEmpty { out.append("bugs: [\(plan.bugs.map(scalar).joined(separator: ", "))]") }
    if let setup = plan.setup {
      out.append("setup:")
      out += block(setup, indent: 1)
    }
    out.append("tasks:")
    for t in plan.tasks {
      out.append("  - name: \(scalar(t.name))")
      out.append("    ops:")
      for op in t.ops { out.append("      - \(op.kind.rawValue): { \(args(op)) }") }
    }
    if !plan.faults.isEmpty {
      out.append("faults:")
      for f in plan.faults { out.append("  - { \(fault(f)) }") }
    }
    var expect: [String] = []
    if let inv = plan.expect.invariants {
      expect.append("  invariants: [\(inv.map(\.rawValue).joined(separator: ", "))]")
    }
    if let mustFire = plan.expect.faultsMustFire { expect.append("  faults: \(mustFire ? "fired" : "any")") }
    if !expect.isEmpty { out += ["expect:"] + expect }
    var sched: [String] = []
    switch plan.schedule {
    case .fifo: break
    case .random(let seed): sched += ["  policy: random", "  seed: \(seed)"]
    case .replay(let choices):
      sched += ["  policy: replay", "  choices: [\(choices.map(scalar).joined(separator: ", "))]"]
    }
    if !plan.preemptions.isEmpty {
      sched.append("  preempt:")
      for p in plan.preemptions {
        guard case .yield(let to?) = p.action, case .nth(let n) = p.trigger else { continue }
        var parts = ["at: \(scalar(p.point))", "nth: \(n)", "to: \(scalar(to))"]
        if let t = p.task { parts.append("task: \(scalar(t))") }
        sched.append("    - { \(parts.joined(separator: ", ")) }")
      }
    }
    if !sched.isEmpty { out += ["schedule:"] + sched }
    if plan.limits != Limits() { out.append("limits: { steps: \(plan.limits.steps) }") }
    return out.joined(separator: "\n") + "\n"
  }

  static func args(_ op: Operation) -> String {
    var a = ["path: \(scalar(op.path))"]
    if let o = op.offset { a.append("offset: \(o)") }
    if let l = op.length { a.append("length: \(l)") }
    if let p = op.pattern { a.append("pattern: 0x\(String(p, radix: 16, uppercase: true))") }
    if let s = op.size { a.append("size: \(s)") }
    if let t = op.target { a.append("target: \(scalar(t))") }
    if let n = op.name { a.append("name: \(scalar(n))") }
    if let v = op.value { a.append("value: \(scalar(v))") }
    if let m = op.mode { a.append("mode: \(scalar(m))") }
    return a.joined(separator: ", ")
  }

  static func fault(_ f: FaultSpec) -> String {
    var a = ["at: \(scalar(f.point))"]
    switch f.trigger {
    case .nth(let n): a.append("nth: \(n)")
    case .every(let n): a.append("every: \(n)")
    case .after(let s, let t):
      a.append("after: \(s)")
      if let t { a.append("times: \(t)") }
    case .probability(let p, let seed): a += ["probability: \(p)", "seed: \(seed)"]
    }
    if f.mode == .persistent { a.append("mode: persistent") }
    if let t = f.task { a.append("task: \(scalar(t))") }
    if let o = f.op { a.append("op: \(scalar(o))") }
    switch f.action {
    case .fail(let e): a.append("fail: \(e.name)")
    case .short(let m): a.append("short: \(m.map(String.init) ?? "true")")
    case .restart: a.append("restart: true")
    case .crash: a.append("crash: true")
    case .yield(let t): a.append("yield: \(t.map(scalar) ?? "true")")
    }
    return a.joined(separator: ", ")
  }

  /// A located YAML value, in block style.
  static func block(_ v: PlanValue, indent: Int) -> [String] {
    let pad = String(repeating: "  ", count: indent)
    switch v {
    case .map(let entries, _):
      return entries.flatMap { e -> [String] in
        switch e.value {
        case .scalar(let s, _): return ["\(pad)\(scalar(e.key)): \(scalar(s))"]
        case .null: return ["\(pad)\(scalar(e.key)):"]
        default: return ["\(pad)\(scalar(e.key)):"] + block(e.value, indent: indent + 1)
        }
      }
    case .seq(let items, _):
      return items.flatMap { item -> [String] in
        let inner = block(item, indent: indent + 1)
        guard let first = inner.first else { return ["\(pad)- "] }
        return ["\(pad)- " + first.dropFirst(pad.count + 2)] + inner.dropFirst()
      }
    case .scalar(let s, _): return ["\(pad)\(scalar(s))"]
    case .null: return []
    }
  }

  /// A scalar plain when that reads back the same, else double-quoted.
  static func scalar(_ s: String) -> String {
    let plain =
      !s.isEmpty && s.allSatisfy { $0.isLetter || $0.isNumber || "/._-".contains($0) }
      && !["true", "false", "yes", "no", "null", "~"].contains(s.lowercased())
    return plain ? s : quoted(s)
  }

  static func quoted(_ s: String) -> String {
    var out = "\""
    for ch in s.unicodeScalars {
      switch ch {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\t": out += "\\t"
      default:
        if ch.value < 0x20 { out += String(format: "\\x%02X", ch.value) } else { out.unicodeScalars.append(ch) }
      }
    }
    return out + "\""
  }
}

import FaultKit

/// JUnit XML for CI (`junit.xml`): one testsuite per plan; one testcase per distinct failure (its
/// signature), with a message that leads with the invariant and the fault, and one testcase for
/// the scenarios that passed. A crashed or timed-out engine is an `<error>`, a violation a
/// `<failure>`. No times: the file is made from results.json alone, byte for byte the same.
public enum JUnitReport {
  /// - Parameter command: how reproduce commands are written (default: repro files in the
  ///   current directory).
  public static func render(_ results: RunResults, command: ReproCommand? = nil) -> String {
    let command = command ?? ReproCommand(results, directory: ".")
    var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    let (tests, failures, errors) = results.plans.reduce((0, 0, 0)) { acc, p in
      let c = counts(p)
      return (acc.0 + c.tests, acc.1 + c.failures, acc.2 + c.errors)
    }
    out += "<testsuites name=\"faultline \(results.command)\" tests=\"\(tests)\" failures=\"\(failures)\""
    out += " errors=\"\(errors)\">\n"
    for p in results.plans { out += suite(p) { command.reproduce($0, of: results.command) } }
    out += "</testsuites>\n"
    return out
  }

  static func counts(_ p: PlanResults) -> (tests: Int, failures: Int, errors: Int, skipped: Int) {
    let errors = p.failures.filter { $0.kind != .judged || $0.isUnjudged }.count
    let skipped = p.failures.filter(\.expected).count
    return (p.failures.count + (p.passed > 0 ? 1 : 0), p.failures.count - errors - skipped, errors, skipped)
  }

  static func attr(_ s: String) -> String { Markup.escape(s, attribute: true) }

  static func suite(_ p: PlanResults, _ reproduce: (FailureGroup) -> String?) -> String {
    let c = counts(p)
    var out = "  <testsuite name=\"\(attr(p.plan))\" tests=\"\(c.tests)\" failures=\"\(c.failures)\""
    out += " errors=\"\(c.errors)\" skipped=\"\(c.skipped)\">\n"
    out += "    <properties>\n"
    var props = [("file", p.file), ("engine", p.engine), ("scenarios", "\(p.ran)"), ("passed", "\(p.passed)")]
    if !p.bugs.isEmpty { props.append(("bugs", p.bugs.joined(separator: ","))) }
    for (k, v) in props { out += "      <property name=\"\(k)\" value=\"\(attr(v))\"/>\n" }
    out += "    </properties>\n"
    let classname = attr("\(p.engine).\(p.plan)")
    for f in p.failures {
      out += "    <testcase classname=\"\(classname)\" name=\"\(attr(f.signature))\">\n"
      if f.expected {
        // Expected behaviour the engine declares (not a bug): reported, not failed.
        out += "      <skipped message=\"\(attr("expected: " + message(f)))\"/>\n"
        out += "    </testcase>\n"
        continue
      }
      // A crash, a timeout or a state nobody could read is an error: nothing was judged.
      let tag = f.kind == .judged && !f.isUnjudged ? "failure" : "error"
      out += "      <\(tag) message=\"\(attr(message(f)))\" type=\"\(attr(f.invariants.joined(separator: ",")))\">"
      out += Markup.escape(body(f, reproduce(f)))
      out += "</\(tag)>\n"
      out += "    </testcase>\n"
    }
    if p.passed > 0 {
      out += "    <testcase classname=\"\(classname)\" name=\"\(p.passed) scenario(s) passed\"/>\n"
    }
    out += "  </testsuite>\n"
    return out
  }

  /// `locks-released, no-hang after alloc.data#2 fail: ENOSPC (3 scenarios)`.
  public static func message(_ f: FailureGroup) -> String {
    var m = f.invariants.joined(separator: ", ")
    let faults = f.faultWords
    m += faults.isEmpty ? " with no fault fired" : " after " + faults.joined(separator: " + ")
    m += " (\(f.count) scenario\(f.count == 1 ? "" : "s"))"
    if let reruns = f.reruns, let k = f.reproduced { m += "; reproduced \(k) of \(reruns) reruns" }
    return m
  }

  /// `reproduce`: the command that reproduces the failure (for a sweep's, its repro file's: the
  /// scenario's own line would run the plan as written, without the placed faults).
  static func body(_ f: FailureGroup, _ reproduce: String?) -> String {
    var out = ""
    if let r = f.result {
      out += TextReport.render(r, reproduce: reproduce)
    } else {
      out += "\(f.kind.rawValue): \(f.detail ?? "")\n"
      if let reproduce { out += "reproduce: \(reproduce)\n" }
    }
    out += "schedule: \(f.scheduleWords)\n"
    if let w = f.rerunWords { out += "reruns: \(w)\n" }
    return out
  }
}

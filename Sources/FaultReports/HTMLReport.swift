import FaultKit

/// `report.html`: one self-contained file (inline style and script, no network). The first screen
/// is the run in one line and the first failure: its invariant, fault, evidence and diff. Then the
/// pictures, the trace, the other failures, the signatures, new/fixed against the previous run,
/// fault-point coverage and the plans. Failures come in the terminal's order and numbers
/// (`FailureOrder`: bugs, unjudged, expected) and filter by engine, invariant and point; expected
/// findings can be hidden (a checkbox, or `report.html#hide-expected`). Every string from plans
/// and engines is escaped.
public enum HTMLReport {
  /// - Parameter command: how the failures' reproduce commands are written (default: repro files
  ///   in the current directory).
  public static func render(
    _ results: RunResults, comparison: RunComparison? = nil, command: ReproCommand? = nil
  ) -> String {
    let command = command ?? ReproCommand(results, directory: ".")
    // The terminal's order and numbers (`FailureOrder`): bugs, unjudged, expected.
    let ordered = FailureOrder.of(results)
    let groups = ordered.map { ($0.plan, $0.failure) }
    var h = head(results)
    h += "<header><h1>Faultline \(e(results.command)): "
    h +=
      results.failed == 0 && results.unjudged == 0
      ? "<span class=\"ok\">no failures</span>"
      : "<span class=\"bad\"><span id=\"failure-count\">\(results.failed)</span> failed scenario(s)"
        + (results.unjudged > 0 ? ", \(results.unjudged) unjudged" : "") + ", \(groups.count) distinct"
        + (groups.contains { $0.1.expected } ? " (\(groups.filter { $0.1.expected }.count) expected)" : "") + "</span>"
    h += "</h1>"
    h += "<p class=\"summary\">\(results.plans.count) plan(s) · \(results.scenarios) scenarios · "
    h += "\(results.passed) passed · \(results.failed) failed"
    if results.unjudged > 0 {
      h += " · <b class=\"bad\">\(results.unjudged) unjudged</b> (the oracles could not read the state)"
    }
    if !results.bugs.isEmpty { h += " · bugs on: \(e(results.bugs.joined(separator: ", ")))" }
    if results.shard != .all { h += " · shard \(results.shard)" }
    if let why = results.incompleteness { h += " · <b>\(e(why))</b>" }
    if let c = comparison {
      h += " · <b>\(c.new.count) new</b>, \(c.fixed.count) fixed, \(c.still.count) still failing"
    }
    h += "</p>"
    if !groups.isEmpty { h += filters(groups) }
    h += "</header><main>"
    let new = Set(comparison?.new ?? [])
    for x in ordered {
      let (p, f) = (x.plan, x.failure)
      h += failure(
        x.number, p, f, new: comparison == nil ? nil : new.contains(.init(plan: p.plan, signature: f.signature)),
        command: command.reproduce(f, of: results.command))
    }
    h += signatures(groups)
    if let c = comparison { h += compare(c) }
    h += coverage(results)
    h += ErrorCoverageSection.html(results)
    h += plans(results)
    h +=
      "</main><footer>results.json schema \(e(results.schema)); regenerate with <code>faultline report</code>.</footer>"
    h += script(groups.count)
    h += "</body></html>\n"
    return h
  }

  static func e(_ s: String) -> String { Markup.escape(s) }
  static func a(_ s: String) -> String { Markup.escape(s, attribute: true) }

  static func points(_ f: FailureGroup) -> [String] {
    let fired = (f.result?.fired ?? []).filter { !$0.decision.hasPrefix("yield") }.map(\.point)
    return Array(Set(fired + f.placements.map(\.point))).sorted()
  }

  static func filters(_ groups: [(PlanResults, FailureGroup)]) -> String {
    func select(_ id: String, _ label: String, _ values: [String]) -> String {
      var s = "<label>\(label) <select id=\"\(id)\"><option value=\"\">all</option>"
      for v in values { s += "<option value=\"\(a(v))\">\(e(v))</option>" }
      return s + "</select></label> "
    }
    let engines = Array(Set(groups.map(\.0.engine))).sorted()
    let invariants = Array(Set(groups.flatMap(\.1.invariants))).sorted()
    let pts = Array(Set(groups.flatMap { points($0.1) })).sorted()
    let expected = groups.filter { $0.1.expected }.count
    let hide =
      expected == 0
      ? ""
      : "<label><input type=\"checkbox\" id=\"f-hide-expected\"> hide the \(expected) expected (not bugs)</label> "
    return "<nav class=\"filters\">" + select("f-engine", "engine", engines)
      + select("f-invariant", "invariant", invariants)
      + select("f-point", "point", pts) + hide + "<span id=\"shown\"></span></nav>"
  }

  /// `new`: nil when there is nothing to compare with; otherwise whether the failure is new.
  static func failure(_ n: Int, _ p: PlanResults, _ f: FailureGroup, new: Bool?, command: String?) -> String {
    var h = "<article class=\"failure\" id=\"failure-\(n)\" data-count=\"\(f.count)\" data-engine=\"\(a(p.engine))\""
    h += " data-expected=\"\(f.expected ? "yes" : "no")\""
    h +=
      " data-invariants=\"\(a(f.invariants.joined(separator: " ")))\" data-points=\"\(a(points(f).joined(separator: " ")))\">"
    h += "<h2><span class=\"num\">\(n).</span> <span class=\"inv\">\(e(f.invariants.joined(separator: ", ")))</span>"
    let faults = f.faultWords
    h +=
      faults.isEmpty
      ? " with no fault fired" : " after <span class=\"fault\">\(e(faults.joined(separator: " + ")))</span>"
    if let new { h += new ? " <span class=\"badge\">new</span>" : " <span class=\"badge known\">seen before</span>" }
    if f.expected { h += " <span class=\"badge known\">expected, not a bug</span>" }
    if f.isUnjudged { h += " <span class=\"badge\">unjudged: not a pass</span>" }
    h += "</h2>"
    h += "<p class=\"meta\">plan <b>\(e(p.plan))</b> (<code>\(e(p.file))</code>, engine \(e(p.engine))) · "
    h += "\(f.count) scenario(s) · schedule: \(e(f.scheduleWords))"
    if let w = f.rerunWords { h += " · \(e(w))" }
    if let command { h += " · repro: <code>\(e(command))</code>" }
    h += "</p>"
    guard let r = f.result else {
      h += "<p class=\"crash\">\(e(f.kind.rawValue)): \(e(f.detail ?? ""))</p>"
      h += "<p>placed: \(e(f.placements.map(\.description).joined(separator: " + ")))</p></article>"
      return h
    }
    if let u = r.unjudged, !u.isEmpty {
      h += "<section class=\"unjudged\"><h3>Unjudged: what the oracles could not read</h3><ul>"
      for x in u {
        h += "<li><b>\(e(x.kind.rawValue))</b> <i>(\(e(x.moment)))</i>: \(e(x.reason))"
        if let raw = x.raw { h += "<pre class=\"evidence\">\(e(raw))</pre>" }
        h += "</li>"
      }
      h += "</ul></section>"
    }
    h += "<div class=\"first\"><section><h3>Violated</h3>"
    for v in r.violations {
      h += "<div class=\"violation\"><b>\(e(v.invariant.rawValue))</b> <i>(\(e(v.moment)))</i>: \(e(v.message))"
      let ev = PageRuns.fold(v.evidence)
      if !ev.isEmpty { h += "<pre class=\"evidence\">\(e(ev.joined(separator: "\n")))</pre>" }
      h += "</div>"
    }
    if r.violations.isEmpty { h += r.judged ? "<p>run stopped: \(e(r.stop))</p>" : "<p>nothing judged violated</p>" }
    h += "</section><section><h3>Fault</h3><ul class=\"faults\">"
    for run in HitRun.fold(r.fired) {
      let word = run.decision.hasPrefix("yield") ? "preempt" : "fault"
      let hits =
        run.first == run.last ? "hit \(run.first)" : "hits \(run.first)–\(run.last) (\(run.last - run.first + 1))"
      h +=
        "<li>\(word): <b>\(e(run.point))</b> \(hits) → <b>\(e(run.decision))</b> (task \(e(run.task)), op \(e(run.op)))</li>"
    }
    if r.fired.isEmpty { h += "<li>none fired</li>" }
    h += "</ul><h3>Schedule</h3><p>\(e(f.scheduleWords)); seed \(r.seed); \(r.steps) steps; stop: \(e(r.stop))</p>"
    let unexpected = r.unexpected
    if !unexpected.isEmpty {
      h += "<h3>Unexpected outcomes</h3><ul>"
      for o in unexpected {
        h += "<li>\(e(o.task))/\(o.index) \(e(o.op)): \(e("\(o.outcome)")), expected \(e(o.expected))</li>"
      }
      h += "</ul>"
    }
    h += "</section><section class=\"diff-at-rest\"><h3>Diff at rest (baseline → now)</h3>\(diff(r.diffAtRest))"
    h += "</section></div>"
    if let before = r.baseline, let after = r.atRest {
      let (files, more) = ExtentPicture.files(before, after, planPaths: ExtentPicture.planPaths(r.ops))
      h +=
        "<section class=\"pictures\"><h3>Extents, locks and pages, before and after</h3>\(legend(ExtentPicture.lanes(before, after)))<div class=\"svgs\">"
      for file in files {
        h += "<figure>" + ExtentPicture.svg(file: file, before: before, after: after)
        let locks = ExtentPicture.otherLocks(file, after)
        if !locks.isEmpty { h += "<figcaption>held at rest: \(e(locks.joined(separator: "; ")))</figcaption>" }
        h += "</figure>"
      }
      if more > 0 { h += "<p>… and \(more) more file(s) with no change.</p>" }
      h += "</div></section>"
    }
    if let ff = r.diffFromFaultFree {
      h += "<details><summary>Diff from the fault-free run (what the fault changed)</summary>\(diff(ff))</details>"
    }
    h += "<details open><summary>Trace around the fault</summary><pre class=\"trace\">"
    let (lo, hi) = TextReport.window(r)
    for i in lo..<hi {
      let line = e(r.trace[i])
      h += i == r.firstFaultAt ? "<mark>&gt; \(line)</mark>\n" : "  \(line)\n"
    }
    h += "</pre><p class=\"note\">events \(lo + 1)–\(hi) of \(r.trace.count)</p></details>"
    h += "<details><summary>Operations</summary><pre>"
    for o in r.ops {
      h += "\(e(o.task))/\(o.index) \(e(o.op)): \(e("\(o.outcome)"))"
      h += o.asExpected ? "\n" : "   <b>← expected \(e(o.expected))</b>\n"
    }
    h += "</pre></details>"
    h += "<details><summary>Signature</summary><code>\(e(f.signature))</code></details>"
    h += "</article>"
    return h
  }

  static func diff(_ lines: [String]) -> String {
    guard !lines.isEmpty else { return "<p class=\"note\">(no change)</p>" }
    var h = "<pre class=\"diff\">"
    for l in PageRuns.fold(lines) {
      if l.hasPrefix("- ") || l.hasPrefix("+ ") {
        h += "<span class=\"\(l.hasPrefix("-") ? "gone" : "added")\">\(e(l))</span>\n"
      } else if let r = l.range(of: " -> ") {
        h += "\(e(String(l[..<r.lowerBound]))) <span class=\"arrow\">→</span> <span class=\"now\">"
        h += "\(e(String(l[r.upperBound...])))</span>\n"
      } else {
        h += "\(e(l))\n"
      }
    }
    return h + "</pre>"
  }

  /// The colours of the lanes drawn (`lanes`), and of no others.
  static func legend(_ lanes: [String]) -> String {
    let items = [
      ("tree", "ex-tree", "tree"), ("cache", "ex-cache", "cache"), ("delalloc", "ex-delalloc", "delalloc"),
      ("ordered", "ex-ordered", "ordered"), ("locks", "lock", "range lock"), ("pages", "pg-dirty", "dirty page"),
      ("pages", "pg-writeback", "writeback"), ("pages", "pg-locked", "locked page"),
      ("pages", "pg-clean", "clean page"),
    ].filter { lanes.contains($0.0) }.map { ($0.1, $0.2) }
    return "<p class=\"legend\">"
      + items.map {
        "<svg width=\"12\" height=\"10\"><rect width=\"12\" height=\"10\" class=\"\($0.0)\"/></svg> \($0.1)"
      }
      .joined(separator: " ") + "</p>"
  }

  static func signatures(_ groups: [(PlanResults, FailureGroup)]) -> String {
    guard !groups.isEmpty else { return "" }
    var h = "<section id=\"signatures\"><h2>Failures by signature</h2><table><tr><th>#</th><th>plan</th><th>engine</th>"
    h += "<th>invariants</th><th>fault</th><th>scenarios</th><th>signature</th></tr>"
    for (i, (p, f)) in groups.enumerated() {
      let n = i + 1
      h +=
        "<tr class=\"sig\" data-engine=\"\(a(p.engine))\" data-invariants=\"\(a(f.invariants.joined(separator: " ")))\""
      h += " data-expected=\"\(f.expected ? "yes" : "no")\""
      h += " data-points=\"\(a(points(f).joined(separator: " ")))\"><td><a href=\"#failure-\(n)\">\(n)</a></td>"
      h += "<td>\(e(p.plan))</td><td>\(e(p.engine))</td><td>\(e(f.invariants.joined(separator: ", ")))</td>"
      h +=
        "<td>\(e(f.faultWords.joined(separator: " + ")))</td><td>\(f.count)</td><td><code>\(e(f.signature))</code></td></tr>"
    }
    return h + "</table></section>"
  }

  static func compare(_ c: RunComparison) -> String {
    var h = "<section id=\"comparison\"><h2>Against the previous run</h2>"
    for (title, keys) in [("New", c.new), ("Still failing", c.still), ("Fixed", c.fixed)] {
      h += "<h3>\(title): \(keys.count)</h3>"
      if !keys.isEmpty {
        h += "<ul>" + keys.map { "<li>\(e($0.plan)): <code>\(e($0.signature))</code></li>" }.joined() + "</ul>"
      }
    }
    return h + "</section>"
  }

  static func coverage(_ r: RunResults) -> String {
    var h = "<section id=\"coverage\"><h2>Fault-point coverage</h2>"
    h += "<p class=\"note\">reached: hits in the fault-free runs; fired: scenarios in which a fault fired there; "
    h += "failed: of those, scenarios that failed.</p>"
    for eng in r.engines {
      h += "<h3>\(e(eng.name))</h3>"
      if !eng.unreached.isEmpty {
        h += "<p class=\"bad\">declared but reached by no plan: \(e(eng.unreached.joined(separator: ", ")))</p>"
      }
      h += table(eng.coverage)
      for p in r.plans where p.engine == eng.name {
        h += "<details><summary>\(e(p.plan))</summary>\(table(p.coverage))</details>"
      }
    }
    return h + "</section>"
  }

  static func table(_ rows: [PointCoverage]) -> String {
    var h =
      "<table class=\"cov\"><tr><th>point</th><th>kind</th><th>reached</th><th>fired</th><th>failed</th><th>errnos</th></tr>"
    for c in rows {
      let cls = c.reached == 0 && c.fired == 0 ? " class=\"unreached\"" : c.failed > 0 ? " class=\"failing\"" : ""
      h += "<tr\(cls)><td><code>\(e(c.point))</code></td><td>\(e(c.kind.rawValue))</td><td>\(c.reached)</td>"
      h += "<td>\(c.fired)</td><td>\(c.failed)</td><td>\(e(c.errnos.joined(separator: ", ")))</td></tr>"
    }
    return h + "</table>"
  }

  static func plans(_ r: RunResults) -> String {
    var h = "<section id=\"plans\"><h2>Plans</h2><table><tr><th>plan</th><th>engine</th><th>file</th><th>scenarios</th>"
    h += "<th>passed</th><th>failed</th><th>distinct</th><th>pruned</th></tr>"
    for p in r.plans {
      h += "<tr><td>\(e(p.plan))</td><td>\(e(p.engine))</td><td><code>\(e(p.file))</code></td><td>\(p.ran)</td>"
      h +=
        "<td>\(p.passed)</td><td>\(p.failed)</td><td>\(p.failures.count)</td><td>\(p.pruned + p.prunedChildren)</td></tr>"
    }
    return h + "</table></section>"
  }

  static func head(_ r: RunResults) -> String {
    """
    <!DOCTYPE html>
    <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
    <title>Faultline \(e(r.command)): \(r.failed) failed of \(r.scenarios)</title>
    <style>
    body{font:14px/1.35 system-ui,sans-serif;margin:0;color:#1d1d1f;background:#fafafa}
    header{padding:8px 16px;background:#fff;border-bottom:1px solid #ddd;position:sticky;top:0;z-index:1}
    h1{font-size:18px;margin:0}h2{font-size:16px;margin:4px 0}h3{font-size:13px;margin:6px 0 2px;color:#555}
    .summary{margin:2px 0;color:#444}.filters{margin:4px 0}.filters label{margin-right:10px}#shown{color:#666}
    main{padding:0 16px}article.failure{background:#fff;border:1px solid #e2c4c4;border-left:4px solid #c62828;
    margin:10px 0;padding:6px 12px}.inv{color:#b71c1c}.fault{color:#0d47a1}.num{color:#888}
    .meta{margin:0 0 4px;color:#444}.first{display:grid;grid-template-columns:1.1fr 0.9fr 1.4fr;gap:14px}
    pre{font:12px/1.3 ui-monospace,monospace;margin:2px 0;white-space:pre-wrap;word-break:break-all}
    pre.diff,pre.evidence{max-height:260px;overflow:auto;background:#f5f5f5;padding:4px}.now{font-weight:600}
    .arrow{color:#888}ul{margin:2px 0;padding-left:18px}.violation{margin-bottom:4px}
    mark{background:#ffe082}.note{color:#777;font-size:12px;margin:2px 0}.bad{color:#b71c1c}.ok{color:#2e7d32}
    table{border-collapse:collapse;margin:4px 0;font-size:13px}td,th{border:1px solid #ddd;padding:2px 6px;text-align:left}
    tr.unreached td{background:#fff3e0}tr.failing td{background:#ffebee}footer{padding:8px 16px;color:#777}
    .svgs{display:flex;flex-wrap:wrap;gap:10px}figure{margin:0}figcaption{font-size:12px;color:#555;max-width:620px}
    svg.extents text{font:11px ui-monospace,monospace;fill:#333}svg.extents .panel{font-weight:600}
    .bg{fill:#f3f3f3}.ex-tree{fill:#42a5f5}.ex-cache{fill:#26a69a}.ex-delalloc{fill:#ffb74d}.ex-ordered{fill:#ab47bc}
    .hole{fill-opacity:.35}.lock{fill:#e53935;fill-opacity:.55}.pg-dirty{fill:#ff9800}.pg-writeback{fill:#1e88e5}
    .pg-locked{fill:#d32f2f}.pg-clean{fill:#bdbdbd}.legend{font-size:12px;margin:2px 0}.legend svg{vertical-align:middle}
    .crash{color:#b71c1c;font-weight:600}.gone{color:#b71c1c}.added{color:#2e7d32}
    .badge{font-size:12px;padding:1px 6px;border-radius:8px;background:#c62828;color:#fff;vertical-align:middle}
    .badge.known{background:#757575}
    </style></head><body>

    """
  }

  /// Filtering, and a count of failed scenarios the page computes from its own articles (what
  /// the browser check compares with results.json). No network, no external script.
  static func script(_ total: Int) -> String {
    """
    <script>
    (function () {
      var articles = Array.prototype.slice.call(document.querySelectorAll('article.failure'));
      var rows = Array.prototype.slice.call(document.querySelectorAll('tr.sig'));
      function value(id) { var el = document.getElementById(id); return el ? el.value : ''; }
      function matches(el) {
        var en = value('f-engine'), inv = value('f-invariant'), pt = value('f-point');
        var hide = document.getElementById('f-hide-expected');
        if (hide && hide.checked && el.dataset.expected === 'yes') { return false; }
        return (!en || el.dataset.engine === en) &&
          (!inv || el.dataset.invariants.split(' ').indexOf(inv) >= 0) &&
          (!pt || el.dataset.points.split(' ').indexOf(pt) >= 0);
      }
      function apply() {
        var shown = 0;
        articles.forEach(function (a) { var ok = matches(a); a.hidden = !ok; if (ok) { shown += 1; } });
        rows.forEach(function (r) { r.hidden = !matches(r); });
        var s = document.getElementById('shown');
        if (s) { s.textContent = shown + ' of \(total) failure(s) shown'; }
      }
      ['f-engine', 'f-invariant', 'f-point', 'f-hide-expected'].forEach(function (id) {
        var el = document.getElementById(id);
        if (el) { el.addEventListener('change', apply); }
      });
      // report.html#hide-expected opens with the expected findings hidden (a link to share).
      var hideBox = document.getElementById('f-hide-expected');
      if (hideBox && window.location.hash === '#hide-expected') { hideBox.checked = true; }
      apply();
      var failed = articles.reduce(function (n, a) { return n + Number(a.dataset.count); }, 0);
      document.body.setAttribute('data-failed-scenarios', String(failed));
      // What the first screen shows of the first failure: its invariant, fault and diff.
      var first = articles[0];
      if (first) {
        var seen = ['.inv', '.fault', '.diff-at-rest'].filter(function (sel) {
          var el = first.querySelector(sel);
          return el && el.getBoundingClientRect().top < window.innerHeight;
        });
        document.body.setAttribute('data-first-screen', seen.join(' '));
      }
      document.body.setAttribute('data-ready', 'yes');
    })();
    </script>

    """
  }
}

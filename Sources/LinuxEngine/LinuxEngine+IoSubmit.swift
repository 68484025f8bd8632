import FaultKit

/// `io.submit`'s state in one scenario.
struct IoSubmitState {
  /// The guest was set up for this scenario (counting, and the failure if one is placed).
  var begun = false
  /// The guest traces (and, when `nth` > 0, may fail) the disk's bios now: an operation is in
  /// the guest.
  var window = false
  /// The plan's call that fails (0: none, count only).
  var nth = 0
  /// The guest said it failed one.
  var fired = false
  var said: Set<String> = []
}

extension LinuxEngine {
  // MARK: io.submit: the kernel's fail_make_request on the guest's disk

  static let ioSubmit = "io.submit"

  private func saySubmit(_ key: String, _ why: String) {
    guard submit.said.insert(key).inserted else { return }
    harness.unjudged(Unjudged(.placement, moment: "arming \(Self.ioSubmit)", why))
  }

  /// Whether this scenario counts `io.submit` (the setup asks, the harness injects, the kernel
  /// has it), saying once why not when a placement needs it.
  private var submitCounted: Bool {
    guard harness.injecting, let pid = harness.injector.catalog.index(of: Self.ioSubmit) else { return false }
    let placed = !harness.farFaults(FaultPointID(pid)).isEmpty
    guard setupConfig.makeItFail else {
      if placed {
        saySubmit(
          "not-asked",
          "\(Self.ioSubmit) is counted only in plans whose setup says make-it-fail: true (the bios an operation submits follow the kernel's timing, so they stay out of other plans' traces)"
        )
      }
      return false
    }
    guard machine.failMakeRequest else {
      if placed {
        saySubmit(
          "no-fail-make-request",
          "this kernel has no fail_make_request with make-it-fail on its disk and the block tracepoints in tracefs (CONFIG_FAIL_MAKE_REQUEST, CONFIG_FAULT_INJECTION_DEBUG_FS, CONFIG_EVENT_TRACING): \(Self.ioSubmit) cannot be counted or fired"
        )
      }
      return false
    }
    return true
  }

  /// The call the plan's placement fails (0: none), from the injector's faults at `io.submit`:
  /// the Nth of the scenario, transient, for any task (the disk is everyone's).
  private func submitNth() -> Int {
    guard let pid = harness.injector.catalog.index(of: Self.ioSubmit) else { return 0 }
    var nth = 0
    for f in harness.farFaults(FaultPointID(pid)) {
      guard case .nth(let n) = f.trigger, f.mode == .transient, f.task == nil, f.op == nil, nth == 0 else {
        saySubmit(
          "trigger \(f)",
          "fail_make_request fails one chosen bio of the plan's disk, whichever task submits it: \(f) cannot be placed there (one nth placement, transient, for any task and operation)"
        )
        continue
      }
      nth = n
    }
    return nth
  }

  /// Before an operation goes to the guest: the scenario's setup (once), then the window opens.
  func ioSubmitBefore() throws {
    guard submitCounted else { return }
    if !submit.begun {
      submit.begun = true
      submit.nth = submitNth()
      let r = try machine.query(
        "submit", [("op", "begin"), ("dev", LinuxMachine.device), ("nth", "\(submit.nth)")])
      guard r.rc == 0 else {
        submit.nth = 0
        saySubmit(
          "begin",
          "the guest could not set fail_make_request up (\(Errno(rawValue: r.rc).name)): \(Self.ioSubmit) is not counted in this scenario"
        )
        submit.begun = false
        return
      }
    }
    guard !submit.window else { return }
    try machine.must("submit", [("op", "on")])
    submit.window = true
  }

  /// After an operation answered: the disk's calls so far through the injector (the window
  /// closes when no other operation is in the guest). Returns the hits that fired.
  func ioSubmitAfter(othersInGuest: Bool) throws -> [Hit] {
    guard submit.begun, submit.window, let pid = harness.injector.catalog.index(of: Self.ioSubmit) else { return [] }
    let r = try machine.query("submit", [("op", othersInGuest ? "count" : "off")])
    if !othersInGuest { submit.window = false }
    guard r.rc == 0, let count = r.fields["count"].flatMap(Int.init), count >= 0 else {
      saySubmit(
        "uncounted",
        "the guest could not count the disk's bios (the block tracepoints' counts unreadable: \(Errno(rawValue: r.rc).name)): \(Self.ioSubmit) hits are missing"
      )
      return []
    }
    let point = FaultPointID(pid)
    let fired = harness.farHits(point, total: count)
    firedSoFar += fired.count
    let kernelFired = r.fields["fired"] == "1"
    if kernelFired != submit.fired {
      submit.fired = kernelFired
      let decided = harness.injector.fired.filter { $0.point == Self.ioSubmit }.map { "#\($0.hit)" }
      if decided != ["#\(submit.nth)"] || fired.isEmpty {
        harness.unjudged(
          Unjudged(
            .placement, moment: "\(Self.ioSubmit) hits",
            "the kernel failed bio \(submit.nth) of the plan's disk by \(harness.scheduler.currentOp) (\(count) counted), the injector decided \(decided.isEmpty ? "none fires" : decided.joined(separator: ", "))"
          ))
      }
    } else if !fired.isEmpty {
      harness.unjudged(
        Unjudged(
          .placement, moment: "\(Self.ioSubmit) hits",
          "the injector decided \(fired.map { "#\($0.hit)" }.joined(separator: ", ")) fires in \(harness.scheduler.currentOp), and the kernel failed no bio (\(count) counted)"
        ))
    }
    return fired
  }

  /// The plan is over: nothing stays armed or traced.
  func ioSubmitEnd() {
    guard submit.begun else { return }
    submit.begun = false
    submit.window = false
    _ = try? machine.query("submit", [("op", "end")])
  }
}

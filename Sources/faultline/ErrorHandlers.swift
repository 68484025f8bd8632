import ArgumentParser
import FaultKit
import Foundation

/// `faultline error-handlers [ENGINE]`: the error-handling sites `sweep --error-coverage` counts,
/// one per line (`file:line:column kind`), read from the sources faultline was built from.
struct ErrorHandlers: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "error-handlers",
    abstract:
      "List an engine's error-handling sites (each catch, throw, error return and error branch) that --error-coverage counts."
  )

  @Argument(help: "Only this engine (btrfs-model, xfs-model, ext4-model, ext2fs).")
  var engine: String?

  func run() throws {
    let known = ErrorHandlerSources.builtIn.folders.keys.sorted()
    let engines: [String]
    if let engine {
      guard known.contains(engine) else {
        let hint = DidYouMean.hint(engine, among: known).map { "; \($0)" } ?? ""
        throw BadInput(
          description:
            "error-handlers \(engine): no error-handler inventory for that engine (engines with one: \(known.joined(separator: ", ")))\(hint)"
        )
      }
      engines = [engine]
    } else {
      engines = known
    }
    for e in engines {
      let sites = try ErrorHandlerSources.builtIn.inventory(of: e) ?? []
      say("\(e): \(sites.count) error handlers")
      for s in sites { say("  \(s.id) \(s.kind.rawValue)") }
    }
  }
}

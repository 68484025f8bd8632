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
      let marked = sites.filter { $0.unreachableReason(for: e) != nil }.count
      say("\(e): \(sites.count) error handlers" + (marked > 0 ? " (\(marked) marked unreachable)" : ""))
      for s in sites {
        say("  \(s.id) \(s.kind.rawValue)" + (s.unreachableReason(for: e).map { " (unreachable: \($0))" } ?? ""))
      }
      let excluded = try ErrorHandlerSources.builtIn.notErrorPaths(of: e)
      if !excluded.isEmpty {
        say("  not counted, each marked not an error path:")
        for s in excluded { say("    \(s.id) \(s.kind.rawValue): \(s.marker?.reason ?? "")") }
      }
      for (file, why) in ErrorHandlerSources.builtIn.excluded.sorted(by: { $0.key < $1.key })
      where ErrorHandlerSources.builtIn.folders[e]?.contains(where: { file.hasPrefix($0 + "/") }) == true {
        say("  not counted, the whole file \(file): \(why)")
      }
    }
  }
}

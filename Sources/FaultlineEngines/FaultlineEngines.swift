import BuiltinEngines
import Ext2fsEngine
import FaultKit
import Foundation
import LinuxEngine

/// The engines the faultline tool knows, by name: the model engines (BuiltinEngines), `linux`
/// (the real kernel under User-Mode Linux) and `ext2fs` (the system's libext2fs). The CLI, the plan
/// tests and the benchmark share this one registry. `FAULTLINE_PLANTED=1` adds the test fixture
/// `planted-model` (and `planted-flaky-model`); `FAULTLINE_ENGINE_PLUGINS=a.so:b.so` (what `--engine-plugin` sets, so worker
/// processes load the same) adds C engines from shared objects.
public enum FaultlineEngines {
  public static var registry: EngineRegistry { loaded.registry }

  /// Powers off the machines engines keep between scenarios (the linux engine's User-Mode Linux
  /// guests): what a command does before it exits.
  public static func shutdownMachines() { MachinePool.shared.shutdownAll() }
  /// Plugins that did not load, each saying which file and why (the CLI turns these into exit 2).
  public static var pluginErrors: [String] { loaded.errors }

  static let loaded: (registry: EngineRegistry, errors: [String]) = {
    let env = ProcessInfo.processInfo.environment
    var engines = BuiltinEngines.models + BuiltinEngines.shaped([LinuxModel.descriptor])
    if env["FAULTLINE_PLANTED"] == "1" { engines += [PlantedEngine.descriptor, PlantedEngine.flakyDescriptor] }
    var errors: [String] = []
    do {
      engines += BuiltinEngines.shaped([try Ext2fs.descriptor()])
    } catch {
      errors.append("built-in engine ext2fs: \(error)")
    }
    let (registry, pluginErrors) = BuiltinEngines.withPlugins(engines, environment: env)
    return (registry, errors + pluginErrors)
  }()
}

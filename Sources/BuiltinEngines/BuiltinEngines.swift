import BtrfsModel
import CEngineKit
import CExt2fsEngine
import Ext4Model
import FaultKit
import Foundation
import LinuxEngine
import XfsModel

/// The engines this build of Faultline knows, by name: the CLI, the plan tests and the benchmark
/// all use this one registry. `FAULTLINE_PLANTED=1` adds the test fixture `planted-model`;
/// `FAULTLINE_ENGINE_PLUGINS=a.so:b.so` (what `--engine-plugin` sets, so worker processes load the
/// same) adds C engines from shared objects.
public enum BuiltinEngines {
  public static var registry: EngineRegistry { loaded.registry }

  /// Powers off the machines engines keep between scenarios (the linux engine's User-Mode Linux
  /// guests): what a command does before it exits.
  public static func shutdownMachines() { MachinePool.shared.shutdownAll() }
  /// Plugins that did not load, each saying which file and why (the CLI turns these into exit 2).
  public static var pluginErrors: [String] { loaded.errors }

  static let loaded: (registry: EngineRegistry, errors: [String]) = {
    let env = ProcessInfo.processInfo.environment
    var engines = [BtrfsModel.descriptor, Ext4Model.descriptor, XfsModel.descriptor, LinuxModel.descriptor]
    if env["FAULTLINE_PLANTED"] == "1" { engines += [PlantedEngine.descriptor, PlantedEngine.flakyDescriptor] }
    var errors: [String] = []
    do {
      var ext2fs = try CEngines.descriptor(fl_ext2fs_engine())
      let checkConfig = ext2fs.checkSetup
      ext2fs.checkSetup = {
        try checkConfig($0)
        try Ext2fsSizes.check($0)
      }
      ext2fs.maxFileSize = Ext2fsSizes.imageBytes
      engines.append(ext2fs)
    } catch {
      errors.append("built-in engine ext2fs: \(error)")
    }
    // The built-in engines' setups share one shape (`files:`, `dirs:`) and none of their
    // operations but the creating ones makes a file: the loader can say which operation works on a
    // path nothing creates. Plugins and the planted fixture (whose writes create) say nothing.
    let shaped = ["btrfs-model", "ext4-model", "xfs-model", "linux", "ext2fs"]
    for i in engines.indices where shaped.contains(engines[i].name) {
      engines[i].setupPaths = { SetupPaths.conventional($0) }
    }
    let plugins = (env["FAULTLINE_ENGINE_PLUGINS"] ?? "").split(separator: ":").map(String.init)
    for path in plugins {
      do {
        let d = try CEngines.load(plugin: path)
        if engines.contains(where: { $0.name == d.name }) {
          errors.append("--engine-plugin \(path): an engine named \(d.name) is already registered")
        } else {
          engines.append(d)
        }
      } catch {
        errors.append("\(error)")
      }
    }
    return (EngineRegistry(engines), errors)
  }()
}

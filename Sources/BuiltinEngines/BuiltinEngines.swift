import BtrfsModel
import CEngineKit
import Ext4Model
import FaultKit
import Foundation
import XfsModel

/// The model engines by name (`btrfs-model`, `ext4-model`, `xfs-model`), for a package that tests
/// plans against them: nothing here links a system library (the `ext2fs` and `linux` engines are
/// the faultline tool's, in FaultlineEngines). `FAULTLINE_ENGINE_PLUGINS=a.so:b.so` (what
/// `--engine-plugin` sets, so worker processes load the same) adds C engines from shared objects.
public enum BuiltinEngines {
  /// The model engines' descriptors.
  public static let models: [EngineDescriptor] = shaped([
    BtrfsModel.descriptor, Ext4Model.descriptor, XfsModel.descriptor,
  ])

  /// The built-in engines' setups share one shape (`files:`, `dirs:`) and none of their
  /// operations but the creating ones makes a file: the loader can say which operation works on a
  /// path nothing creates. Plugins and the planted fixture (whose writes create) say nothing.
  public static func shaped(_ engines: [EngineDescriptor]) -> [EngineDescriptor] {
    let conventional = ["btrfs-model", "ext4-model", "xfs-model", "linux", "ext2fs"]
    var engines = engines
    for i in engines.indices where conventional.contains(engines[i].name) {
      engines[i].setupPaths = { SetupPaths.conventional($0) }
    }
    return engines
  }

  /// The model engines and the plugins `FAULTLINE_ENGINE_PLUGINS` names.
  public static var registry: EngineRegistry { loaded.registry }
  /// Plugins that did not load, each saying which file and why.
  public static var pluginErrors: [String] { loaded.errors }

  static let loaded = withPlugins(models, environment: ProcessInfo.processInfo.environment)

  /// A registry of `engines` and the plugins `FAULTLINE_ENGINE_PLUGINS` in `env` names (in that
  /// order), with each plugin that did not load (or took a name already registered) in `errors`.
  public static func withPlugins(_ engines: [EngineDescriptor], environment env: [String: String]) -> (
    registry: EngineRegistry, errors: [String]
  ) {
    var engines = engines
    var errors: [String] = []
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
  }
}

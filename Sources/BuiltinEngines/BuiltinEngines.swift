import BtrfsModel
import Ext4Model
import FaultKit
import Foundation
import XfsModel

/// The engines this build of Faultline knows, by name: the CLI, the plan tests and the benchmark
/// all use this one registry. `FAULTLINE_PLANTED=1` adds the test fixture `planted-model`.
public enum BuiltinEngines {
  public static let registry: EngineRegistry = {
    var engines = [BtrfsModel.descriptor, Ext4Model.descriptor, XfsModel.descriptor]
    if ProcessInfo.processInfo.environment["FAULTLINE_PLANTED"] == "1" { engines.append(PlantedEngine.descriptor) }
    return EngineRegistry(engines)
  }()
}

import BtrfsModel
import Ext4Model
import FaultKit
import XfsModel

/// The engines this build of Faultline knows, by name: the CLI, the plan tests and the benchmark
/// all use this one registry.
public enum BuiltinEngines {
  public static let registry = EngineRegistry([
    BtrfsModel.descriptor,
    Ext4Model.descriptor,
    XfsModel.descriptor,
  ])
}

import BtrfsModel
import FaultKit

/// The engines this build of faultline knows.
enum BuiltinEngines {
  static let registry = EngineRegistry([BtrfsModel.descriptor])
}

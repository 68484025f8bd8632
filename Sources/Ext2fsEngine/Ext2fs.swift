import CEngineKit
import CExt2fsEngine
import FaultKit

/// Engine `ext2fs`: e2fsprogs' libext2fs under fault injection (the C engine in CExt2fsEngine),
/// with the image sizes checked where the plan's places are known. A target of its own so that
/// only what asks for this engine links libext2fs: the faultline tool does, the model engines
/// (BuiltinEngines) and FaultKitTesting do not.
public enum Ext2fs {
  /// The engine's descriptor. Throws `CEngines.LoadError` when the C engine cannot be read (an
  /// ABI mismatch: a build error, in practice).
  public static func descriptor() throws -> EngineDescriptor {
    var ext2fs = try CEngines.descriptor(fl_ext2fs_engine())
    let checkConfig = ext2fs.checkSetup
    ext2fs.checkSetup = {
      try checkConfig($0)
      try Ext2fsSizes.check($0)
    }
    ext2fs.maxFileSize = Ext2fsSizes.imageBytes
    return ext2fs
  }
}

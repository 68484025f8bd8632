import FaultKit
import ModelKernel

/// Engine `xfs-model`: being written (issue 4); not registered yet.
public enum XfsModel {}

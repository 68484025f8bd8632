import FaultKit
import ModelKernel

/// Engine `ext4-model`: being written (issue 4); not registered yet.
public enum Ext4Model {}

// swift-tools-version: 6.1
import PackageDescription

// Linux only: the harness and the engines use memfd, /proc, User-Mode Linux and glibc, so no other
// platform is declared, and a build elsewhere stops with FaultKit saying so (LinuxOnly.swift).
let package = Package(
  name: "Faultline",
  products: [
    .executable(name: "faultline", targets: ["faultline"]),
    .library(name: "FaultKit", targets: ["FaultKit"]),
    .library(name: "FaultReports", targets: ["FaultReports"]),
    // Fault plans as Swift Testing cases, for a user's own package.
    .library(name: "FaultKitTesting", targets: ["FaultKitTesting"]),
    // The model engines (btrfs-model, xfs-model, ext4-model) by name, for packages that test plans
    // against them. Links no system library: not libext2fs, not the linux engine.
    .library(name: "BuiltinEngines", targets: ["BuiltinEngines"]),
    // Engine `ext2fs` (the system's libext2fs: apt-get install libext2fs-dev e2fsprogs).
    .library(name: "Ext2fsEngine", targets: ["Ext2fsEngine"]),
    // The linux engine's disk shim, preloaded into User-Mode Linux (never linked into faultline).
    .library(name: "FaultlineUbdShim", type: .dynamic, targets: ["CUbdShim"]),
    // The linux engine's guest agent: init of the User-Mode Linux guest.
    .executable(name: "fl-agent", targets: ["FaultlineAgent"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
  ],
  targets: [
    // The harness: knows no engine.
    .target(name: "FaultKit", dependencies: ["CFaultlineSupport", .product(name: "Yams", package: "Yams")]),
    // Process-level helpers in C (malloc tuning) that Swift's Glibc module does not expose.
    .target(name: "CFaultlineSupport"),
    // The C ABI for engines written in C: include/faultline.h (engine vtable, fault points).
    .target(name: "CFaultline"),
    // C engines (built in or loaded as plugins) as ordinary engines.
    .target(name: "CEngineKit", dependencies: ["CFaultline", "FaultKit"]),
    // e2fsprogs' libext2fs (and com_err), from the system.
    .systemLibrary(name: "CLibExt2fs", pkgConfig: "ext2fs", providers: [.apt(["libext2fs-dev", "e2fsprogs"])]),
    // Engine `ext2fs`: libext2fs through the C ABI, e2fsck as the oracle.
    .target(
      name: "CExt2fsEngine", dependencies: ["CFaultline", "CLibExt2fs"],
      linkerSettings: [.linkedLibrary("ext2fs"), .linkedLibrary("com_err")]),
    // The linux engine: the real kernel's ext4, btrfs and xfs under User-Mode Linux.
    .target(name: "CUbdControl"),
    .target(name: "CLinuxSupport"),
    .target(name: "LinuxEngine", dependencies: ["FaultKit", "CFaultlineSupport", "CUbdControl", "CLinuxSupport"]),
    .target(name: "CUbdShim", dependencies: ["CUbdControl"], linkerSettings: [.linkedLibrary("dl")]),
    .executableTarget(
      name: "FaultlineAgent", dependencies: ["CFaultline"], linkerSettings: [.linkedLibrary("pthread")]),
    // Terminal and JSON output: reads results, never engines.
    .target(name: "FaultReports", dependencies: ["FaultKit"]),
    // Runs plans inside `swift test`: each plan (and each bug it catches) a parameterized case.
    .target(name: "FaultKitTesting", dependencies: ["FaultKit", "FaultReports"]),
    // Kernel-like primitives shared by the model engines.
    .target(name: "ModelKernel", dependencies: ["FaultKit"]),
    // Engine `btrfs-model`.
    .target(name: "BtrfsModel", dependencies: ["ModelKernel", "FaultKit"], exclude: ["README.md"]),
    // Engine `xfs-model`.
    .target(name: "XfsModel", dependencies: ["ModelKernel", "FaultKit"], exclude: ["README.md"]),
    // Engine `ext4-model`.
    .target(name: "Ext4Model", dependencies: ["ModelKernel", "FaultKit"], exclude: ["README.md"]),
    // The model engines by name, and C engine plugins: what a user's package registers.
    .target(name: "BuiltinEngines", dependencies: ["FaultKit", "CEngineKit", "BtrfsModel", "XfsModel", "Ext4Model"]),
    // Engine `ext2fs` as a descriptor: the one target above libext2fs that Swift code imports.
    .target(name: "Ext2fsEngine", dependencies: ["FaultKit", "CEngineKit", "CExt2fsEngine"]),
    // Every engine the faultline tool knows (models, ext2fs, linux): what the CLI, the plan tests
    // and the bench share.
    .target(name: "FaultlineEngines", dependencies: ["FaultKit", "BuiltinEngines", "Ext2fsEngine", "LinuxEngine"]),
    .executableTarget(
      name: "faultline",
      dependencies: [
        "FaultKit", "FaultReports", "FaultlineEngines", "CFaultlineSupport",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]),
    .executableTarget(
      name: "faultline-bench",
      dependencies: ["FaultKit", "FaultlineEngines", "CEngineKit", "CExt2fsEngine", "CBenchEngine", "LinuxEngine"],
      path: "Benchmarks/faultline-bench"),
    // A C engine whose one operation passes its one point N times: the armed C hit's cost.
    .target(name: "CBenchEngine", dependencies: ["CFaultline"], path: "Benchmarks/CBenchEngine"),
    // C-side benchmarks: fl_point against libfiu, and the naive ext2fs-under-e2fsck loop.
    .executableTarget(
      name: "faultline-cbench", dependencies: ["CFaultline", "CExt2fsEngine"], path: "Benchmarks/faultline-cbench",
      cSettings: [.headerSearchPath("../../Sources/CExt2fsEngine")], linkerSettings: [.linkedLibrary("fiu")]),
    // cmocka tests of the C side (a C executable: cmocka's macros do not import into Swift).
    .executableTarget(
      name: "cfaultline-tests", dependencies: ["CFaultline", "CExt2fsEngine"], path: "Tests/CFaultlineTests",
      cSettings: [.headerSearchPath("../../Sources/CExt2fsEngine")], linkerSettings: [.linkedLibrary("cmocka")]),
    .testTarget(name: "FaultKitTests", dependencies: ["FaultKit"]),
    .testTarget(name: "CEngineKitTests", dependencies: ["CEngineKit", "FaultKit"]),
    .testTarget(name: "ModelKernelTests", dependencies: ["ModelKernel", "FaultKit"]),
    // The model engines from the inside (@testable): their snapshots against their own state.
    .testTarget(
      name: "ModelEngineTests", dependencies: ["BtrfsModel", "XfsModel", "Ext4Model", "ModelKernel", "FaultKit"]),
    .testTarget(name: "CLITests", dependencies: ["faultline", "FaultKit"]),
    .testTarget(name: "LinuxEngineTests", dependencies: ["LinuxEngine", "FaultKit", "FaultlineEngines"]),
    .testTarget(name: "PlanTests", dependencies: ["FaultKit", "FaultReports", "FaultKitTesting", "FaultlineEngines"]),
  ],
  swiftLanguageModes: [.v6]
)

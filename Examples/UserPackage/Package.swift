// swift-tools-version: 6.1
// A user's package that runs its own fault plans under `swift test` with FaultKitTesting.
// Here the plans target Faultline's model engines; a package with its own engine passes its own
// EngineRegistry instead of BuiltinEngines.registry.
import PackageDescription

let package = Package(
  name: "UserPackage",
  dependencies: [
    // In a real package: .package(url: "https://github.com/<org>/faultline", branch: "main")
    .package(name: "Faultline", path: "../..")
  ],
  targets: [
    .testTarget(
      name: "StoragePlanTests",
      dependencies: [
        .product(name: "FaultKitTesting", package: "Faultline"),
        .product(name: "BuiltinEngines", package: "Faultline"),
      ])
  ],
  swiftLanguageModes: [.v6]
)

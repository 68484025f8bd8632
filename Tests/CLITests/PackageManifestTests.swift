import Foundation
import Testing

/// What the README promises a user's package, tried from another package: its dependency line and
/// product lines resolve against this repository (a clone at a file URL ending in `faultline`,
/// like the README's), and Package.swift declares only the platform the code runs on.
@Suite("Package: as another package uses it")
struct PackageManifestTests {
  static func run(_ program: String, _ args: [String], in dir: URL) throws -> CLI.Output {
    try CLI.spawn(URL(fileURLWithPath: "/usr/bin/env"), [program] + args, directory: dir)
  }

  @Test("the README's dependency and product lines resolve from a package of one's own")
  func readmeDependencyResolves() throws {
    let readme = try String(contentsOf: CLI.root.appendingPathComponent("README.md"), encoding: .utf8)
    let lines = readme.split(separator: "\n").map(String.init)
    let dependency = try #require(lines.first { $0.contains(".package(url: \"https://github.com/<org>/faultline\"") })
    let products = lines.filter {
      $0.contains(".product(name: \"FaultKitTesting\"") || $0.contains(".product(name: \"BuiltinEngines\"")
    }
    #expect(products.count == 2, "\(products)")

    let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("userdep-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: tmp) }
    let clone = tmp.appendingPathComponent("faultline")
    let user = tmp.appendingPathComponent("user")
    try FileManager.default.createDirectory(
      at: user.appendingPathComponent("Tests/StoragePlanTests"), withIntermediateDirectories: true)
    // This commit, as the branch the README names (whatever this checkout's branch is called).
    let head = try Self.run("git", ["rev-parse", "HEAD"], in: CLI.root).stdout.trimmingCharacters(
      in: .whitespacesAndNewlines)
    #expect(try Self.run("git", ["clone", "-q", "--no-checkout", CLI.root.path, clone.path], in: tmp).status == 0)
    #expect(try Self.run("git", ["checkout", "-q", "-B", "main", head], in: clone).status == 0)

    let manifest = """
      // swift-tools-version: 6.1
      import PackageDescription
      let package = Package(
        name: "User",
      \(dependency.replacingOccurrences(of: "https://github.com/<org>/faultline", with: "file://" + clone.path))
        targets: [
          .testTarget(name: "StoragePlanTests", dependencies: [
      \(products.joined(separator: "\n"))
          ]),
        ]
      )
      """
    try manifest.write(to: user.appendingPathComponent("Package.swift"), atomically: true, encoding: .utf8)
    try "import Testing\n".write(
      to: user.appendingPathComponent("Tests/StoragePlanTests/T.swift"), atomically: true, encoding: .utf8)
    // Resolves the versions and loads the graph, products included (describe and resolve alone
    // check neither a product name nor, describe, a version).
    let r = try Self.run("swift", ["package", "show-dependencies"], in: user)
    #expect(r.status == 0, "\(manifest)\n\(r.stdout)\(r.stderr)")
    #expect(r.stdout.contains("faultline<\(clone.path)@"), "\(r.stdout)")
  }

  @Test("Package.swift declares no platform the code does not run on; a build elsewhere says Linux only")
  func linuxOnly() throws {
    for manifest in ["Package.swift", "Examples/UserPackage/Package.swift"] {
      let text = try String(contentsOf: CLI.root.appendingPathComponent(manifest), encoding: .utf8)
      #expect(!text.contains("platforms:"), "\(manifest) declares platforms")
    }
    let guardFile = try String(
      contentsOf: CLI.root.appendingPathComponent("Sources/FaultKit/Platform/LinuxOnly.swift"), encoding: .utf8)
    #expect(guardFile.contains("#if !os(Linux)") && guardFile.contains("#error(\"Faultline runs on Linux only"))
  }
}

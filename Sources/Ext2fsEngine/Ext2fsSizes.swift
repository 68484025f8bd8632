import FaultKit

/// The sizes the `ext2fs` engine's image bounds, checked in Swift where the plan's places are
/// known: the largest file is the image (`setup.size`, 4MiB unless given, as `fx_image.c` says),
/// and a setup file larger than the image is an error at its `size`, not a setup that fills the
/// image one block at a time.
enum Ext2fsSizes {
  /// `fx_parse_config`'s default image size.
  static let defaultImage: UInt64 = 4 << 20

  /// The image's bytes, for `EngineDescriptor.maxFileSize` (the setup has been checked).
  @Sendable static func imageBytes(_ setup: PlanValue?) -> UInt64? {
    guard case .map(let entries, _) = setup, let v = entries.first(where: { $0.key == "size" })?.value else {
      return defaultImage
    }
    return (try? v.size("setup.size")) ?? defaultImage
  }

  /// Each `setup.files[i].size` fits in the image.
  @Sendable static func check(_ setup: PlanValue?) throws {
    guard case .map(let entries, _) = setup, let files = entries.first(where: { $0.key == "files" })?.value,
      case .seq(let items, _) = files, let image = imageBytes(setup)
    else { return }
    for (i, item) in items.enumerated() {
      guard case .map(let fields, _) = item, let v = fields.first(where: { $0.key == "size" })?.value else { continue }
      let size = try v.size("setup.files[\(i)].size")
      if size > image {
        throw PlanError(
          v.location, key: "setup.files[\(i)].size", expected: "at most \(Size.format(image)), the image's size",
          found: Size.format(size))
      }
    }
  }
}

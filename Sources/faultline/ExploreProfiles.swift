import FaultKit

/// The explore profiles of the engines `faultline explore` knows: per engine, the setups (file
/// shapes: empty, partial last page, holes, fragmented, larger than one extent leaf; free space:
/// plenty, fragmented, nearly full) its `setup:` language expresses, and the operation templates,
/// each chosen so the engine does not legitimately reject it in the fault-free run (direct I/O
/// block-aligned, mapped writes within the file where the setup makes one). Holes come from
/// writes past the end and punches (the model engines' setups make no sparse files).
enum ExploreProfiles {
  static let engines = ["btrfs-model", "xfs-model", "ext4-model", "ext2fs"]

  static func profile(_ engine: String) -> ExploreProfile? {
    switch engine {
    case "btrfs-model": btrfs
    case "xfs-model": xfs
    case "ext4-model": ext4
    case "ext2fs": ext2fs
    default: nil
    }
  }

  private static func op(
    _ kind: OpKind, _ path: String = "/a", offset: UInt64? = nil, length: UInt64? = nil, pattern: UInt8? = nil,
    size: UInt64? = nil, target: String? = nil, name: String? = nil, value: String? = nil, mode: String? = nil
  ) -> Operation {
    Operation(
      kind, path: path, offset: offset, length: length, pattern: pattern, size: size, target: target, name: name,
      value: value, mode: mode)
  }

  private static let kib: UInt64 = 1024

  /// A profile whose systematic alphabet is given by template names.
  private static func make(
    _ engine: String, setups: [ExploreProfile.Setup], templates: [ExploreProfile.Template], alphabet: [String]
  ) -> ExploreProfile {
    let names = templates.map(\.name)
    precondition(Set(names).count == names.count, "\(engine): two templates of one name")
    let indices = alphabet.map { a in
      guard let i = names.firstIndex(of: a) else { preconditionFailure("\(engine): no template \(a)") }
      return i
    }
    return ExploreProfile(engine: engine, setups: setups, templates: templates, alphabet: indices)
  }

  /// The model engines' shared setups (4 KiB blocks; the first 16 blocks are metadata).
  private static func modelSetups(extra: String = "") -> [ExploreProfile.Setup] {
    [
      .init(
        name: "empty", about: "/a and /b empty, plenty of contiguous free space",
        yaml: "device: { blocks: 1024, block-size: 4096 }\n\(extra)files: [ { path: /a }, { path: /b } ]\n"),
      .init(
        name: "partial-page", about: "/a 10 KiB on disk (its last page partial), plenty of free space",
        yaml:
          "device: { blocks: 1024, block-size: 4096 }\n\(extra)files: [ { path: /a, size: 10KiB }, { path: /b } ]\n"),
      .init(
        name: "fragmented", about: "free space in single blocks: /a's 32 KiB is 8 extents, every allocation splits",
        yaml:
          "device: { blocks: 1024, block-size: 4096 }\nfree-space: { run-blocks: 1 }\n\(extra)files: [ { path: /a, size: 32KiB }, { path: /b } ]\n"
      ),
      .init(
        name: "nearly-full", about: "a 1 MiB device with 64 KiB free: /z fills it, /a is 8 KiB",
        yaml:
          "device: { blocks: 256, block-size: 4096 }\n\(extra)files: [ { path: /z, size: 888KiB }, { path: /a, size: 8KiB }, { path: /b } ]\n"
      ),
      .init(
        name: "full", about: "a 1 MiB device with no block free: /z and /a (8 KiB) fill it",
        yaml:
          "device: { blocks: 256, block-size: 4096 }\n\(extra)files: [ { path: /z, size: 952KiB }, { path: /a, size: 8KiB }, { path: /b } ]\n"
      ),
    ]
  }

  /// Writes, writeback, fsync, read and unlink of /a (and a write of /b): what every model engine has.
  private static let modelCommon: [ExploreProfile.Template] = [
    .init("write-head", op(.write, offset: 0, length: 8 * kib, pattern: 0x11)),
    .init("write-unaligned", op(.write, offset: 6 * kib, length: 5 * kib, pattern: 0x22)),
    .init("write-past-eof", op(.write, offset: 64 * kib, length: 4 * kib, pattern: 0x33)),
    .init("write-large", op(.write, offset: 0, length: 96 * kib, pattern: 0x44)),
    .init("writeback", op(.writeback)),
    .init("fsync", op(.fsync)),
    .init("read", op(.read)),
    .init("unlink", op(.unlink)),
    .init("write-b", op(.write, "/b", offset: 0, length: 8 * kib, pattern: 0x77)),
    .init("fsync-b", op(.fsync, "/b")),
    // Operations the engine refuses by their arguments or the namespace (EEXIST, ENOENT): the
    // error returns before any fault point, which no other template reaches.
    .init("create-existing", op(.create)),
    .init("unlink-read", ops: [op(.unlink), op(.read)]),
    // A new name: the create's own journal start and reservations.
    .init("create-new", op(.create, "/c")),
  ]

  static let btrfs = make(
    "btrfs-model",
    setups: modelSetups() + [
      .init(
        name: "metadata-full",
        about: "plenty of data space, 8 KiB of metadata space: every reservation for a create or write fails",
        yaml:
          "device: { blocks: 1024, block-size: 4096 }\nmetadata: 8KiB\nfiles: [ { path: /a, size: 10KiB }, { path: /b } ]\n"
      )
    ],
    templates: modelCommon + [
      .init("dio-write-unaligned", op(.dioWrite, offset: 2 * kib, length: 4 * kib, pattern: 0x56)),
      .init("dio-read-unaligned", op(.dioRead, offset: 2 * kib, length: 4 * kib)),
      .init("dio-write", op(.dioWrite, offset: 0, length: 8 * kib, pattern: 0x55)),
      .init("dio-read", op(.dioRead)),
      .init("migrate-page", op(.migratePage, offset: 0)),
      .init("drop-caches", op(.dropCaches)),
      // Media rot, then a read from the device (checksums): corrupt alone leaves the cached page
      // differing from the disk, which pagecache-coherent rightly reports.
      .init("corrupt-cold-read", ops: [op(.corrupt, offset: 0), op(.dropCaches), op(.read)]),
      // A read that reaches the device (io.read): the cached pages dropped first.
      .init("cold-read", ops: [op(.dropCaches), op(.read)]),
      // A page dirtied behind btrfs's back (seed 002), then written back: the fixup worker's
      // path. Never alone: a page so dirtied has no reservation until write-back queues the
      // fixup, which delalloc-backed rightly reports at rest.
      .init("mmap-writeback", ops: [op(.mmapWrite, offset: 0, length: 4 * kib, pattern: 0x66), op(.writeback)]),
      // The same, then a migration while the queued fixup still holds the page (EBUSY).
      .init(
        "mmap-writeback-migrate",
        ops: [op(.mmapWrite, offset: 0, length: 4 * kib, pattern: 0x66), op(.writeback), op(.migratePage, offset: 0)]),
    ],
    alphabet: ["write-unaligned", "write-large", "fsync", "dio-write", "cold-read"])

  static let xfs = make(
    "xfs-model", setups: modelSetups(),
    templates: modelCommon + [
      .init("punch", op(.punch, offset: 4 * kib, length: 8 * kib)),
      .init("punch-unaligned", op(.punch, offset: 2 * kib, length: 3 * kib)),
      .init("truncate-shrink", op(.truncate, size: 6 * kib)),
      .init("truncate-grow", op(.truncate, size: 128 * kib)),
      .init("page-mkwrite", op(.pageMkwrite, offset: 0, length: 4 * kib, pattern: 0x66)),
      .init("drop-caches", op(.dropCaches)),
      .init("cold-read", ops: [op(.dropCaches), op(.read)]),
    ],
    alphabet: ["write-unaligned", "fsync", "punch", "page-mkwrite", "cold-read"])

  static let ext4 = make(
    "ext4-model",
    setups: modelSetups(extra: "extent-tree: { leaf-capacity: 4 }\n") + [
      .init(
        name: "deep-tree",
        about: "free space in single blocks, 4 extents a leaf: /a's 40 KiB is 10 extents over 3 leaves",
        yaml:
          "device: { blocks: 1024, block-size: 4096 }\nfree-space: { run-blocks: 1 }\nextent-tree: { leaf-capacity: 4 }\nfiles: [ { path: /a, size: 40KiB }, { path: /b } ]\n"
      ),
      .init(
        name: "small-journal",
        about: "a 16-credit journal (restarts in punch, truncate, unlink) and /a as 6 extents of single blocks",
        yaml:
          "device: { blocks: 1024, block-size: 4096 }\nfree-space: { run-blocks: 1 }\nextent-tree: { leaf-capacity: 4 }\njournal: { credits: 16 }\nfiles: [ { path: /a, size: 24KiB }, { path: /b } ]\n"
      ),
    ],
    templates: modelCommon + [
      .init("punch", op(.punch, offset: 4 * kib, length: 16 * kib)),
      .init("punch-unaligned", op(.punch, offset: 2 * kib, length: 3 * kib)),
      .init("truncate-shrink", op(.truncate, size: 6 * kib)),
      .init("truncate-grow", op(.truncate, size: 128 * kib)),
      // Many delayed blocks allocated in one write-back: from a fragmented setup with a small
      // journal, more extents than the handle's credits (txn.extend, restarts in ext4_map_blocks).
      .init("write-large-fsync", ops: [op(.write, offset: 0, length: 96 * kib, pattern: 0x45), op(.fsync)]),
    ],
    alphabet: ["write-unaligned", "write-large", "fsync", "punch", "truncate-shrink"])

  static let ext2fs = make(
    "ext2fs",
    setups: [
      .init(
        name: "empty", about: "a 2 MiB image of 1 KiB blocks; /a and /b empty",
        yaml:
          "size: 2MiB\nblock-size: 1024\nfeatures: [extents, 64bit, ext_attr]\nfiles: [ { path: /a }, { path: /b } ]\n"
      ),
      .init(
        name: "partial-block", about: "/a 2500 bytes: its last block partial",
        yaml:
          "size: 2MiB\nblock-size: 1024\nfeatures: [extents, 64bit, ext_attr]\nfiles: [ { path: /a, size: 2500 }, { path: /b } ]\n"
      ),
      .init(
        name: "sparse-deep", about: "/a 40 KiB sparse: a block every other block, 20 extents, a tree of depth 1",
        yaml:
          "size: 2MiB\nblock-size: 1024\nfeatures: [extents, 64bit, ext_attr]\nfiles: [ { path: /a, size: 40KiB, sparse: true }, { path: /b } ]\n"
      ),
      .init(
        name: "fragmented", about: "free space in single blocks: every allocation splits",
        yaml:
          "size: 2MiB\nblock-size: 1024\nfeatures: [extents, 64bit, ext_attr]\nfragment: { run: 1 }\nfiles: [ { path: /a, size: 8KiB }, { path: /b } ]\n"
      ),
      .init(
        name: "nearly-full", about: "a 2 MiB image that /z fills but for about 26 KiB",
        yaml:
          "size: 2MiB\nblock-size: 1024\nfeatures: [extents, 64bit, ext_attr]\nfiles: [ { path: /z, size: 1920KiB }, { path: /a, size: 4KiB }, { path: /b } ]\n"
      ),
      .init(
        name: "journal-csum", about: "with a journal and metadata checksums; /a 8 KiB",
        yaml:
          "size: 4MiB\nblock-size: 1024\nfeatures: [extents, 64bit, ext_attr, metadata_csum]\njournal: true\nfiles: [ { path: /a, size: 8KiB }, { path: /b } ]\n"
      ),
      .init(
        name: "block-mapped",
        about: "ext2/ext3-style block maps (no extents): /a 14 KiB, its last two blocks under an indirect block",
        yaml:
          "size: 2MiB\nblock-size: 1024\nfeatures: [\"^extents\", \"^64bit\", ext_attr]\nfiles: [ { path: /a, size: 14KiB }, { path: /b } ]\n"
      ),
      .init(
        name: "full-root",
        about:
          "the root directory's one block exactly full (four 224-character names and one of 20 beside /a, /b, lost+found): a new name expands it",
        yaml:
          "size: 2MiB\nblock-size: 1024\nfeatures: [extents, 64bit, ext_attr]\nfiles: [ { path: /a, size: 4KiB }, { path: /b }"
          + (1...4).map { ", { path: /\(String(repeating: "n", count: 223))\($0) }" }.joined()
          + ", { path: /\(String(repeating: "m", count: 20)) } ]\n"
      ),
    ],
    templates: [
      .init("write-head", op(.write, offset: 0, length: 8 * kib, pattern: 0x11)),
      .init("write-unaligned", op(.write, offset: 1500, length: 3000, pattern: 0x22)),
      .init("write-past-eof", op(.write, offset: 64 * kib, length: 2 * kib, pattern: 0x33)),
      .init("append", op(.append, length: 3 * kib, pattern: 0x44)),
      .init("read", op(.read)),
      .init("truncate-shrink", op(.truncate, size: 1000)),
      .init("truncate-grow", op(.truncate, size: 100 * kib)),
      .init("punch", op(.punch, offset: 2 * kib, length: 4 * kib)),
      .init("fallocate", op(.fallocate, offset: 0, length: 16 * kib)),
      .init("fallocate-keep-size", op(.fallocate, offset: 32 * kib, length: 8 * kib, mode: "keep-size")),
      .init("fsync", op(.fsync)),
      .init("unlink", op(.unlink)),
      .init("mkdir", op(.mkdir, "/d")),
      .init("link", op(.link, "/l", target: "/a")),
      .init("symlink-long", op(.symlink, "/s", target: "/" + String(repeating: "long-target/", count: 8) + "a")),
      .init("setxattr", op(.setxattr, name: "user.x", value: String(repeating: "v", count: 200))),
      .init("removexattr", op(.removexattr, name: "user.x")),
      .init("write-b", op(.write, "/b", offset: 0, length: 8 * kib, pattern: 0x77)),
      .init("create", op(.create, "/c")),
      .init("symlink-fast", op(.symlink, "/f", target: "/a")),
      // A name in a directory other than the root: resolving its parent reads /d (a failed
      // read there fails the create, or the unlink after it).
      .init("create-in-dir", ops: [op(.mkdir, "/d"), op(.create, "/d/f")]),
      .init("unlink-in-dir", ops: [op(.mkdir, "/d"), op(.create, "/d/f"), op(.unlink, "/d/f")]),
      // unlink(2) of a directory is EISDIR (rmdir is not an operation of the engine).
      .init("unlink-dir", ops: [op(.mkdir, "/d"), op(.unlink, "/d")]),
      // ext2fs_flush after a change: descriptors, bitmaps, and the superblock's changed bytes
      // (io_channel_write_byte); alone, fsync finds nothing dirty.
      .init("append-fsync", ops: [op(.append, length: 3 * kib, pattern: 0x44), op(.fsync)]),
    ],
    alphabet: ["write-unaligned", "append-fsync", "punch", "fallocate", "truncate-shrink", "unlink-in-dir"])
}

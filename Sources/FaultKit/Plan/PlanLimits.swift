internal import CYaml

/// The bounds on what a plan file may be, checked before anything is built from it: a plan is a
/// page of YAML, and a file that is not cannot take the machine with it (a 600-byte alias bomb
/// expands to gigabytes; a name of a thousand characters cannot be a file name).
public enum PlanLimits {
  /// The largest plan file (a plan of 10,000 operations is about half a megabyte).
  public static let fileBytes = 4 << 20
  /// The longest string value (`about:` included).
  public static let stringBytes = 64 << 10
  /// The deepest nesting of mappings and lists (a plan needs six).
  public static let depth = 64
  /// The longest plan or task name, in UTF-8 bytes: names become parts of file names.
  public static let nameBytes = 200

  /// Checks YAML text event by event, before any node is composed (Yams expands aliases while
  /// composing, so a check of the composed tree comes too late): an anchor or an alias, a string
  /// over `stringBytes` or nesting over `depth` is an error at its line and column. A syntax
  /// error stops the check quietly: the composer reports it, where it is.
  /// - Throws: `PlanError`.
  static func checkEvents(_ text: String, file: String) throws {
    var bytes = Array(text.utf8)
    if bytes.isEmpty { return }
    var parser = yaml_parser_t()
    guard yaml_parser_initialize(&parser) == 1 else { return }
    defer { yaml_parser_delete(&parser) }
    try bytes.withUnsafeMutableBufferPointer { buffer in
      yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING)
      yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
      var depth = 0
      // Each event consumes input, and the input is at most `fileBytes` long: the loop ends.
      while true {
        var event = yaml_event_t()
        guard yaml_parser_parse(&parser, &event) == 1 else { return }
        defer { yaml_event_delete(&event) }
        let at = SourceLocation(
          file: file, line: Int(event.start_mark.line) + 1, column: Int(event.start_mark.column) + 1)
        var anchor: UnsafeMutablePointer<yaml_char_t>?
        switch event.type {
        case YAML_STREAM_END_EVENT:
          return
        case YAML_ALIAS_EVENT:
          throw PlanError(
            at, key: "", expected: "a plain value (plans take no YAML anchors or aliases)",
            found: "the alias '*\(name(event.data.alias.anchor))'")
        case YAML_SCALAR_EVENT:
          anchor = event.data.scalar.anchor
          if event.data.scalar.length > stringBytes {
            throw PlanError(
              at, key: "", expected: "a value of at most \(stringBytes / 1024) KiB",
              found: "one of \(event.data.scalar.length) bytes")
          }
        case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
          anchor =
            event.type == YAML_SEQUENCE_START_EVENT ? event.data.sequence_start.anchor : event.data.mapping_start.anchor
          depth += 1
          if depth > Self.depth {
            throw PlanError(
              at, key: "", expected: "at most \(Self.depth) levels of nested mappings and lists",
              found: "more")
          }
        case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
          depth -= 1
        default:
          break
        }
        if let anchor {
          throw PlanError(
            at, key: "", expected: "a plain value (plans take no YAML anchors or aliases)",
            found: "the anchor '&\(name(anchor))'")
        }
      }
    }
  }

  /// An anchor's name as written, cut short and escaped by the error that quotes it.
  private static func name(_ p: UnsafeMutablePointer<yaml_char_t>?) -> String {
    guard let p else { return "" }
    let s = String(cString: p)
    return s.count > 40 ? String(s.prefix(40)) + "…" : s
  }
}

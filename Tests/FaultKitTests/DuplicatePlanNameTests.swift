import FaultKit
import Testing

@Suite("duplicate plan names")
struct DuplicatePlanNameTests {
  static func plan(_ name: String, _ file: String, line: Int? = nil) -> Plan {
    Plan(
      name: name, file: file, engine: "e", tasks: [],
      nameLocation: line.map { SourceLocation(file: file, line: $0, column: 7) })
  }

  @Test("each plan after the first of a name is an error at its plan:, naming the first's place")
  func duplicates() {
    let errors = PlanLoader.duplicateNames([
      Self.plan("a", "Plans/btrfs/a.yaml", line: 1), Self.plan("b", "Plans/btrfs/b.yaml", line: 1),
      Self.plan("a", "Plans/ext4/a.yaml", line: 3), Self.plan("a", "a.yaml"),
    ])
    #expect(errors.map(\.location.description) == ["Plans/ext4/a.yaml:3:7", "a.yaml:1:1"])
    #expect(
      errors.allSatisfy { $0.key == "plan" && $0.found == "'a', the name of the plan at Plans/btrfs/a.yaml:1:7 too" })
    #expect(errors.map(\.hint) == ["rename one, e.g. 'ext4-a'", "rename one of them"])
  }

  @Test("names of their own: no error")
  func unique() {
    #expect(PlanLoader.duplicateNames([Self.plan("a", "x/a.yaml"), Self.plan("b", "x/a.yaml")]).isEmpty)
  }
}

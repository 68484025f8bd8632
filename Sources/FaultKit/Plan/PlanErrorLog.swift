/// The errors found so far in one plan file. The reader keeps going past an error, a section,
/// task, operation or fault at a time, so `validate` reports every error of a file in one run.
final class PlanErrorLog {
  private(set) var errors: [PlanError] = []

  /// Runs `body`; a `PlanError` it throws is kept and nil returned. Other errors pass through.
  func attempt<T>(_ body: () throws -> T) throws -> T? {
    do {
      return try body()
    } catch let e as PlanError {
      errors += e.all
      return nil
    }
  }

  /// `attempt` for a body whose value is optional already (a section that may be absent).
  func attemptOptional<T>(_ body: () throws -> T?) throws -> T? {
    guard let v = try attempt(body) else { return nil }
    return v
  }

  func add(_ e: PlanError) { errors += e.all }

  /// Throws every error kept, as one `PlanError` (the first in file order leading).
  func check() throws {
    if let e = PlanError.combined(errors) { throw e }
  }
}

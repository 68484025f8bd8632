import BuiltinEngines
import FaultKitTesting
import Testing

/// Every plan under Plans/ is a test case: as written it must pass; with each bug it `catches`,
/// it must fail with the invariants it names.
let plans = FaultPlans(registry: BuiltinEngines.registry)

@Test(arguments: plans.cases(in: "Plans"))
func faultPlan(_ plan: FaultPlanCase) {
  plans.check(plan)
}

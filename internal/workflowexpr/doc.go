// Package workflowexpr holds the expressions of a Workflow's steps: when a step runs
// (`depends`, `when`) and what it is given of earlier steps ($(steps.NAME.result...)).
// It is pure: no client, no store, no clock. Admission and the Workflow controller
// validate with it (Validate), and the Run engine decides and renders steps with it.
//
// # depends: which earlier outcomes a step waits for
//
// A step's `depends` is an Argo-style join over earlier steps:
//
//	build && (test || lint.Skipped)
//	!docs.Skipped && release.Ended
//
// A bare name means NAME.Succeeded. NAME.Skipped holds when the step was skipped, and
// NAME.Ended when it succeeded or was skipped. There is no NAME.Failed: a failed step ends
// the Run's main steps, so nothing in them can run after it; steps that must run after a
// failure (notify, clean up) are `finally` steps.
//
// Why an expression rather than phase-set entries in dependsOn: it is one field, it says
// explicitly what a step waits for, Argo users already know it, and it parses with a small
// grammar here, without CEL. Without `depends` (plain dependsOn), every dependency must
// succeed: a skipped dependency skips the step too, so skipping a branch skips everything
// below it unless a step opts in with NAME.Skipped or NAME.Ended.
//
// The join is decided once every step it names has ended; when it does not hold, the step
// is skipped (and so are the steps that need it to succeed).
//
// # when: a condition over the Run so far
//
// `when` is a CEL bool expression, evaluated once a step's dependencies allow it to run;
// false skips the step. It sees:
//
//	params   map(string, string)  the Run's resolved parameters
//	input    dyn                  the Run's input: parsed JSON, or the text when not JSON; null when none
//	run      map(string, string)  name, trigger, endpoint, deliveryID
//	steps    map(string, dyn)     steps.NAME.phase ("Succeeded", "Skipped", ...) and, when the
//	                              step wrote one, steps.NAME.result (parsed JSON, or text)
//
// A step may read only its ancestors (its transitive dependencies): their phases and results
// are final by the time it is decided. A missing key or field is an error, not false; test
// with has(steps.build.result.version) or the optional form steps.build.result.?version.
// Evaluation is bounded by CostLimit and EvalTimeout, and a result is usable only up to
// MaxResultBytes. JSON numbers are doubles (exact up to 2^53), as in the WebhookEndpoint's filter.
//
// # $(steps.NAME.result.PATH): results as step input
//
// A step's image, args and env values may reference an ancestor's result: the whole result
// ($(steps.build.result)) or a value in it by a dotted path whose numeric segments index
// arrays ($(steps.build.result.images.0.digest)). Strings are substituted as themselves,
// numbers and bools as JSON (1, not 1.0; no exponent), objects and arrays as compact JSON.
// A missing step result, field or index is an error naming the reference. Substitution is
// one pass: a substituted value that contains "$(" stays literal, so a result cannot
// inject further references.
package workflowexpr

// Package execute runs a plan.Plan on the engine and writes its result
// folder: the invocation and its manifest, one small type per kind of run
// behind the runKind interface (bare, wire, peer, link, flow,
// cyclictest), an undo stack for what a run sets up (namespaces,
// receiver, forwarder, CPU masks, system settings), background loads,
// progress, resume, recovery of killed invocations, and the tables,
// figures and report.
//
// It may import runner/plan, runner/linkconf, results and engine packages; never
// runner/script.
package execute

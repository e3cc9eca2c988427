// Package runner holds labrun's three layers between a script and a
// result folder, one package each, with imports that point down only
// (docs/architecture.md; layers_test.go checks them):
//
//	runner/script   Starlark -> plan.Plan; the only importer of go.starlark.net
//	runner/plan     the Plan: runs as plain Go values, sweeps, IDs, printing
//	runner/execute  plan.Plan -> runs on the engine -> result folders
//	runner/linkconf plan link configs -> engine/link (reads the files they name)
//
// script and execute import plan; plan imports neither, and script and
// execute do not import each other.
package runner

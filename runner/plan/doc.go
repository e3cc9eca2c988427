// Package plan is the resolved experiment as plain Go values: Plan, Run,
// RunConfig and the per-domain configs (their JSON is what labrun plan
// --json prints and what run IDs hash). It builds a plan from the
// Starlark-free Description a script gives (Build: sweep expansion, run
// IDs and seeds, the run limit, duplicate runs), and owns the actions a
// plan takes on the system, the --allow-sysctl policy, and the text and
// JSON printers.
//
// It makes no system calls and imports no Starlark. It may import results
// and engine packages for their config types; never runner/script,
// runner/execute or runner/linkconf.
package plan

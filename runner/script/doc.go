// Package script is labrun's Starlark layer and the only package that
// imports go.starlark.net. It evaluates an experiment script and its
// loads (repository files, @stdlib// and, with a labrun.mod, the modules
// it requires through runner/module, verified against labrun.lock: see
// modules.go) under bounds on steps, memory
// and time, provides the builtins (one file per domain, each builtin a
// table of keyword arguments and a constructor), reports script errors
// with file:line:col, did-you-mean and the load chain, and resolves the
// script's values into a plan.Plan, checking all that needs no system
// access.
//
// It owns: evaluation (Evaluate, Options), the builtins, and the
// resolution of Starlark values into plan configs. It may import
// runner/plan, runner/module, stdlib, results and engine packages for
// their pure checks;
// never runner/execute.
package script

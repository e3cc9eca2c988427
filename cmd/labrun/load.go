package main

import (
	"os"

	"github.com/labrun/labrun/engine/load"
)

// loadChild turns this process into a background load generator when args
// are "__load KIND CONFIG" (engine/load starts labrun that way) and exits
// with its code; otherwise it returns. The command is hidden (not in the
// usage) and is dispatched before any flag parsing.
func loadChild(args []string) {
	if len(args) > 0 && args[0] == load.ChildArg {
		os.Exit(load.ChildMain(args[1:]))
	}
}

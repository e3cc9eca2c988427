package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"golang.org/x/sys/unix"

	"github.com/labrun/labrun/results"
)

// buildInfo returns the stamped version and revision, falling back to the
// VCS information the Go toolchain embeds.
func buildInfo() results.BuildInfo {
	b := results.BuildInfo{Version: version, Revision: revision, Go: runtime.Version()}
	if b.Revision == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			dirty := false
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					b.Revision = s.Value
				case "vcs.modified":
					dirty = s.Value == "true"
				}
			}
			if dirty && b.Revision != "" {
				b.Revision += "-dirty"
			}
		}
	}
	if b.Revision == "" {
		b.Revision = "unknown"
	}
	return b
}

func cmdVersion(e *env, args []string) int {
	b := buildInfo()
	fmt.Fprintf(e.stdout, "labrun %s (revision %s, %s)\n", b.Version, b.Revision, b.Go)
	return 0
}

func isTerminal(f interface{ Fd() uintptr }) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/labrun/labrun/engine/kernel"
	"github.com/labrun/labrun/runner/remote"
)

// cmdAgent is the far end of labrun run's SSH connection to a host
// (docs/hosts.md): requests on stdin, responses on stdout. When stdin
// closes, or on SIGTERM, SIGINT or SIGHUP, it stops what runs, undoes its
// settings and exits.
func cmdAgent(e *env, args []string) int {
	fs := newFlags(e, "agent", "[--state DIR]")
	state := fs.String("state", "", "the folder of the agent's undo journal (default: $LABRUN_STATE_DIR, else labrun's state folder)")
	pos, err := parse(fs, args)
	if err != nil {
		return ExitUsage
	}
	if len(pos) != 0 {
		fs.Usage()
		return ExitUsage
	}
	dir := *state
	if dir == "" {
		dir = kernel.StateDir()
	}
	// A write to a connection that is gone must fail, not kill the agent
	// before it undoes its settings.
	signal.Ignore(syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer stop()
	if err := remote.Serve(ctx, e.stdin, os.Stdout, dir); err != nil {
		fmt.Fprintf(e.stderr, "labrun agent: %v\n", err)
		return ExitRunFailed
	}
	return ExitOK
}

// sshConfig is labrun run's --ssh-config: the ssh_config file every
// connection to a host uses (ssh -F), passed on as $LABRUN_SSH_CONFIG.
type sshConfig struct{ path *string }

func sshConfigFlag(fs *flag.FlagSet) sshConfig {
	return sshConfig{fs.String("ssh-config", "", "the ssh_config file for the connections to host()s (ssh -F FILE; default: $"+remote.EnvSSHConfig+", else ssh's own ~/.ssh/config); see docs/hosts.md")}
}

// apply checks the file and hands it to runner/remote.
func (s sshConfig) apply() error {
	if *s.path == "" {
		return nil
	}
	abs, err := filepath.Abs(*s.path)
	if err != nil {
		return err
	}
	if _, err := os.Stat(abs); err != nil {
		return err
	}
	return os.Setenv(remote.EnvSSHConfig, abs)
}

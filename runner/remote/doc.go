// Package remote runs a role of a wire experiment (the sender or the
// receiver) on another machine, driven over SSH.
//
// The controller (labrun run) connects with the system's OpenSSH client,
// so ~/.ssh/config, keys, ProxyJump and agents work as they do for ssh
// itself; Dial copies labrun's own binary to a folder of the remote user's
// temporary directory when the copy there is missing or differs (by
// SHA-256, computed there), and starts `labrun agent` on it. The agent
// (Serve) answers JSON lines on its stdin with JSON lines on its stdout:
// one Request, one Response, matched by ID. The agent keeps the settings
// it changes in the undo journal of engine/kernel, in a state folder of
// its own on its host; when its stdin closes (the controller is done, or
// the connection was lost) it stops what runs, undoes every setting and
// exits. See docs/hosts.md.
//
// The package imports engine packages only: runner/execute turns a plan's
// run into requests.
package remote

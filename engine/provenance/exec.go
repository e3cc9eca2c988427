package provenance

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// maxOutput bounds what is kept of a command's output.
const maxOutput = 64 << 10

// limited keeps the first maxOutput bytes written to it.
type limited struct{ bytes.Buffer }

func (l *limited) Write(p []byte) (int, error) {
	if room := maxOutput - l.Len(); room > 0 {
		l.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// run runs a program with an argument vector, bounded by r.Timeout, and
// returns its output (standard output, then standard error).
func (r *Reader) run(path string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), r.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.WaitDelay = time.Second // a child left holding the pipes is not waited for
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	var out, errOut limited
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		return "", fmt.Errorf("%s %s did not finish within %v", path, strings.Join(args, " "), r.Timeout)
	}
	return out.String() + errOut.String(), err
}

// Tool is a program's path and the first line of its --version.
type Tool struct {
	Name    string `json:"name"`
	Path    string `json:"path,omitempty"`
	Version string `json:"version,omitempty"`
	Err     string `json:"error,omitempty"`
}

// Tool finds a program on $PATH and runs `program --version`; the
// version is the first non-empty line it prints (some tools print it on
// standard error, some exit non-zero after printing it).
func (r *Reader) Tool(name string) (Tool, error) {
	t := Tool{Name: name}
	if name == "" || strings.HasPrefix(name, "-") || strings.ContainsRune(name, '/') {
		return t, fmt.Errorf("bad tool name %q; accepted: a program name on $PATH, such as tcpreplay", name)
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return t, fmt.Errorf("%s is not on $PATH", name)
	}
	if t.Path, err = filepath.Abs(p); err != nil {
		return t, err
	}
	out, err := r.run(t.Path, "--version")
	for _, line := range strings.Split(out, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			t.Version = line
			return t, nil
		}
	}
	if err == nil {
		err = fmt.Errorf("%s --version printed nothing", t.Path)
	}
	return t, err
}

// NIC is a network interface's driver and firmware.
type NIC struct {
	Name     string `json:"name"`
	Driver   string `json:"driver,omitempty"`
	Version  string `json:"driver_version,omitempty"`
	Firmware string `json:"firmware,omitempty"`
	BusInfo  string `json:"bus_info,omitempty"`
}

var ifnameRE = regexp.MustCompile(`^[A-Za-z0-9_.:@-]{1,15}$`)

// NIC reads an interface's driver from sysfs (the device's driver link)
// and, on a host with ethtool, its driver version, firmware and bus from
// ethtool -i, which also names drivers of virtual interfaces (veth).
func (r *Reader) NIC(name string) (NIC, error) {
	n := NIC{Name: name}
	if !ifnameRE.MatchString(name) || strings.HasPrefix(name, "-") {
		return n, fmt.Errorf("bad interface name %q; accepted: up to 15 letters, digits and _.:@-", name)
	}
	if _, err := os.Stat(r.path("sys/class/net/" + name)); err != nil {
		return n, fmt.Errorf("no interface %s (%v)", name, err)
	}
	if link, err := os.Readlink(r.path("sys/class/net/" + name + "/device/driver")); err == nil {
		n.Driver = filepath.Base(link)
	}
	if r.Root != "/" {
		return n, nil
	}
	ethtool, err := exec.LookPath("ethtool")
	if err != nil {
		return n, nil
	}
	out, err := r.run(ethtool, "-i", name)
	if err != nil {
		return n, nil // no driver information (lo): sysfs said what there is
	}
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if v = strings.TrimSpace(v); !ok || v == "" {
			continue
		}
		switch strings.TrimSpace(k) {
		case "driver":
			n.Driver = v
		case "version":
			n.Version = v
		case "firmware-version":
			n.Firmware = v
		case "bus-info":
			n.BusInfo = v
		}
	}
	return n, nil
}

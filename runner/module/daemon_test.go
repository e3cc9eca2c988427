package module

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// gitDaemon serves the bare repositories below base on loopback with
// git daemon, and stops it (by PID) when the test ends or stop is called.
func gitDaemon(t *testing.T, base string) (url string, stop func()) {
	t.Helper()
	if out, err := exec.Command("git", "daemon", "-h").CombinedOutput(); !strings.Contains(string(out), "usage: git daemon") {
		t.Skipf("git daemon is not available (%v): the network fetch test needs it", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command("git", "daemon", "--export-all", "--reuseaddr", "--informative-errors",
		"--base-path="+base, "--listen=127.0.0.1", fmt.Sprintf("--port=%d", port), base)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) // the daemon and the upload-pack children it forked
			cmd.Wait()
		}
	}
	t.Cleanup(stop)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for i := 0; ; i++ { // poll until it accepts, bounded
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if i == 500 {
			t.Fatalf("git daemon never accepted on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "git://" + addr, stop
}

// TestOfflineWithDaemon fetches over git://, then works from the cache
// with the server gone; an empty cache offline names what is missing.
func TestOfflineWithDaemon(t *testing.T) {
	hermeticGit(t)
	base := t.TempDir()
	src := libB(t, filepath.Join(t.TempDir(), "src"))
	if out, err := exec.Command("git", "clone", "--quiet", "--bare", src.dir, filepath.Join(base, "b.git")).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	url, stop := gitDaemon(t, base)
	root := mainModule(t, `module(name = "lab_a")
require(name = "b", git = "`+url+`/b.git", version = "v1.0.0")
`, map[string]string{"exp.star": ""})
	c := newCache(t, false)
	tidy(t, root, c)
	if _, err := Download(root, NewCache(c.Dir, false)); err != nil {
		t.Fatal(err)
	}
	stop()

	for _, offline := range []bool{true, false} { // offline, and online with nothing to fetch
		r, err := Open(root, NewCache(c.Dir, offline))
		if err != nil {
			t.Fatalf("offline=%v with the cache filled and the server stopped: %v", offline, err)
		}
		loc, err := r.Resolve(Location{Module: "lab_a", Root: root, Path: filepath.Join(root, "exp.star")}, "@b//lib.star")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.ReadFile(loc); err != nil {
			t.Fatal(err)
		}
	}
	if err := VerifyAll(root, NewCache(c.Dir, true)); err != nil {
		t.Fatalf("offline verify: %v", err)
	}
	if _, err := Resolve(root, NewCache(c.Dir, true)); err != nil {
		t.Fatalf("offline tidy from the cache's mirror: %v", err)
	}

	empty := newCache(t, true)
	m, _ := mustLock(t, root).Find("b")
	_, err := Open(root, empty)
	var me *MissingError
	if !errors.As(err, &me) || !strings.Contains(err.Error(), "module b v1.0.0 (commit "+m.Commit) || !strings.Contains(err.Error(), url+"/b.git") {
		t.Fatalf("offline with an empty cache: %v", err)
	}
	_, err = Resolve(root, empty)
	if !errors.As(err, &me) || !strings.Contains(err.Error(), "the git repository "+url+"/b.git") {
		t.Fatalf("offline tidy with an empty cache: %v", err)
	}
	if ents, _ := os.ReadDir(empty.Dir); len(ents) != 0 {
		t.Errorf("offline use wrote into the cache: %v", ents)
	}
}

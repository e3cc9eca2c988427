package peer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Outputs in testdata/ were captured from tcpreplay 4.4.3 and trafgen
// 0.6.8 sending on a veth pair in a private namespace.
func TestParseTcpreplay(t *testing.T) {
	for _, f := range []string{"testdata/tcpreplay-pps.out", "testdata/tcpreplay-sigint.out"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s, err := ParseTcpreplay(string(b))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if s.Packets != 13 || s.Bytes != 780 || s.Successful != 12 || s.Failed != 0 || s.Flows != 4 || !s.HaveDevice || s.PPS < 11 || s.Seconds < 1.1 {
			t.Fatalf("%s: %+v", f, s)
		}
	}
	if _, err := ParseTcpreplay("Warning: nothing sent\n"); err == nil {
		t.Fatal("output without an Actual line parsed")
	}
	s, err := ParseTcpreplay("Actual: 5 packets (300 bytes) sent in 0.01 seconds\n")
	if err != nil || s.Packets != 5 || s.HaveDevice {
		t.Fatalf("minimal output: %+v %v", s, err)
	}
}

func TestParseTrafgen(t *testing.T) {
	b, err := os.ReadFile("testdata/trafgen-1cpu.out")
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseTrafgen(string(b))
	if err != nil || s.Packets != 100000 || s.Bytes != 6400000 || s.CPUSeconds < 104 {
		t.Fatalf("%+v %v", s, err)
	}
	two := string(b) + strings.ReplaceAll(string(b), "CPU0", "CPU1")
	if s, _ := ParseTrafgen(two); s.Packets != 200000 {
		t.Fatalf("two processes: %+v", s)
	}
	if _, err := ParseTrafgen("Running! Hang up with ^C!\n"); err == nil {
		t.Fatal("output without a packet count parsed")
	}
}

func TestTcpreplayArgs(t *testing.T) {
	base := Tcpreplay{Pcap: "t.pcap", Iface: "lr-snd0", Preload: true}
	for _, tc := range []struct {
		mod  func(*Tcpreplay)
		want string
	}{
		{func(t *Tcpreplay) { t.Timer = "gtod" }, "--intf1=lr-snd0 --timer=gtod --preload-pcap t.pcap"},
		{func(t *Tcpreplay) { t.Timer = "nano" }, "--intf1=lr-snd0 --timer=nano --preload-pcap t.pcap"},
		{func(t *Tcpreplay) { t.Timing = "topspeed"; t.Timer = "nano" }, "--intf1=lr-snd0 --topspeed --preload-pcap t.pcap"},
		{func(t *Tcpreplay) { t.Timing = "pps"; t.PPS = 14285.5 }, "--intf1=lr-snd0 --pps=14285.5 --preload-pcap t.pcap"},
		{func(t *Tcpreplay) { t.Timing = "mbps"; t.Mbps = 100 }, "--intf1=lr-snd0 --mbps=100 --preload-pcap t.pcap"},
		{func(t *Tcpreplay) { t.Timing = "multiplier"; t.Multiplier = 2; t.Loop = 3; t.Limit = 10 }, "--intf1=lr-snd0 --multiplier=2 --loop=3 --limit=10 --preload-pcap t.pcap"},
	} {
		c := base
		tc.mod(&c)
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(c.Args(), " "); got != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
	}
	for _, bad := range []Tcpreplay{
		{Iface: "x"}, {Pcap: "p"}, {Pcap: "p", Iface: "x", Timing: "fast"}, {Pcap: "p", Iface: "x", Timer: "abstime"},
		{Pcap: "p", Iface: "x", Timing: "pps"}, {Pcap: "p", Iface: "x", Timing: "mbps"}, {Pcap: "p", Iface: "x", Timing: "multiplier"},
	} {
		if bad.Validate() == nil {
			t.Errorf("%+v validated", bad)
		}
	}
}

func TestTrafgenConfigClearsMarker(t *testing.T) {
	frame := []byte{1, 2, 3, 4, 'L', 'R', 'U', 'N', 0, 0, 0, 0, 0, 0, 0, 7}
	tg := Trafgen{Frame: frame, SeqOffset: 8, Iface: "lr-snd0", Count: 1000, CPUs: 2}
	cfg := tg.Config()
	if !strings.Contains(cfg, "0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00,") || !strings.HasSuffix(cfg, "0x07,\n}\n") {
		t.Fatalf("config:\n%s", cfg)
	}
	if frame[4] != 'L' {
		t.Fatal("Config changed the caller's frame")
	}
	want := []string{"--in", "c.cfg", "--out", "lr-snd0", "--num", "1000", "--cpus", "2", "--no-sock-mem", "--qdisc-path"}
	if got := tg.Args("c.cfg"); !reflect.DeepEqual(got, want) {
		t.Fatalf("args %v", got)
	}
	tg.Gap, tg.QdiscBypass = 70*time.Microsecond, true
	if got := strings.Join(tg.Args("c.cfg"), " "); !strings.HasSuffix(got, "--gap 70000ns") {
		t.Fatalf("args %s", got)
	}
}

func TestMissingTool(t *testing.T) {
	_, err := Start(context.Background(), "labrun-no-such-tool", nil, "", nil, nil)
	if !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("err %v", err)
	}
	_, err = Find("tcpreplay-not-here")
	if !errors.Is(err, ErrNotInstalled) {
		t.Fatal(err)
	}
	packages["labrun-test-tool"] = "labrun-test-pkg"
	defer delete(packages, "labrun-test-tool")
	if _, err := Find("labrun-test-tool"); err == nil || !strings.Contains(err.Error(), "apt-get install -y labrun-test-pkg") {
		t.Fatalf("err %v, want the install command", err)
	}
}

// Stop ends a tool that would run for long: SIGINT, then SIGKILL after the
// grace period for one that ignores it; the context does the same.
func TestStopEndsTool(t *testing.T) {
	for _, tc := range []struct {
		script string
		killed bool // needs SIGKILL: it ignores SIGINT
	}{{"echo ready; exec sleep 30", false}, {"trap '' INT; echo ready; exec sleep 30", true}} {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		p, err := Start(context.Background(), "sh", []string{"-c", tc.script}, "", w, nil)
		w.Close()
		if err != nil {
			t.Fatal(err)
		}
		// Wait until the shell has set its traps (bounded by the read).
		buf := make([]byte, 6)
		r.SetReadDeadline(time.Now().Add(20 * time.Second))
		if _, err := io.ReadFull(r, buf); err != nil || string(buf) != "ready\n" {
			t.Fatalf("%q: %q %v", tc.script, buf, err)
		}
		r.Close()
		// A tool that obeys SIGINT gets all the time it needs (a busy
		// machine may be slow to run it); one that ignores it is killed
		// after a short grace.
		grace := 30 * time.Second
		if tc.killed {
			grace = 100 * time.Millisecond
		}
		p.Stop(grace)
		p.Wait()
		ws := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
		if !ws.Signaled() || (ws.Signal() == syscall.SIGKILL) != tc.killed {
			t.Fatalf("%q: ended by %v, want SIGKILL %v", tc.script, p.cmd.ProcessState, tc.killed)
		}
		p.Stop(time.Millisecond) // idempotent
	}
	ctx, cancel := context.WithCancel(context.Background())
	p, err := Start(ctx, "sh", []string{"-c", "exec sleep 30"}, "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	done := make(chan struct{})
	go func() { p.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("cancelling the context did not end the tool")
	}
}

// Early says how a tool ended when it ended with a failure before anyone
// asked it to stop, and nothing for a tool that ended well or was stopped.
func TestEarly(t *testing.T) {
	for _, tc := range []struct {
		name, script string
		stop         bool   // Stop it (after it printed "ready")
		want         string // Early's error after %d = PID, "" for none
	}{
		// Killed from outside (as a parent-death signal would): loud.
		{"killed", "echo oops >&2; kill -9 $$", false, "sh (pid %d) ended before labrun stopped it: killed by signal SIGKILL; stderr: oops"},
		{"failed", "exit 3", false, "sh (pid %d) ended before labrun stopped it: exit status 3 (nothing on stderr)"},
		{"ended well", "echo fine >&2", false, ""},
		// SIGINT from Stop ends the shell: asked for, so not early.
		{"stopped", "echo ready; exec sleep 30", true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			p, err := Start(context.Background(), "sh", []string{"-c", tc.script}, "", w, nil)
			w.Close()
			if err != nil {
				t.Fatal(err)
			}
			if tc.stop {
				buf := make([]byte, 6)
				r.SetReadDeadline(time.Now().Add(20 * time.Second))
				if _, err := io.ReadFull(r, buf); err != nil {
					t.Fatal(err)
				}
				p.Stop(100 * time.Millisecond)
			}
			if !p.WaitFor(20 * time.Second) {
				t.Fatal("still running after 20 s")
			}
			got := fmt.Sprint(p.Early())
			want := "<nil>"
			if tc.want != "" {
				want = fmt.Sprintf(tc.want, p.PID())
			}
			if got != want {
				t.Errorf("Early: %s\nwant   %s", got, want)
			}
		})
	}
}

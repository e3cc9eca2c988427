package remote

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"
)

// agentPipe runs Serve on pipes, as the agent runs on ssh's.
type agentPipe struct {
	in   *io.PipeWriter
	out  *bufio.Reader
	done chan error
	id   int
}

func startAgent(t *testing.T) *agentPipe {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	a := &agentPipe{in: inW, out: bufio.NewReader(outR), done: make(chan error, 1)}
	go func() {
		a.done <- Serve(context.Background(), inR, outW, t.TempDir())
		outW.Close()
	}()
	t.Cleanup(func() { inW.Close() })
	return a
}

func (a *agentPipe) call(t *testing.T, req Request) Response {
	t.Helper()
	a.id++
	req.ID = a.id
	b, _ := json.Marshal(req)
	if _, err := a.in.Write(append(b, '\n')); err != nil {
		t.Fatal(err)
	}
	line, err := a.out.ReadBytes('\n')
	if err != nil {
		t.Fatal(err)
	}
	var r Response
	if err := json.Unmarshal(line, &r); err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	if r.ID != req.ID {
		t.Fatalf("response %d to request %d", r.ID, req.ID)
	}
	return r
}

func TestAgentRequests(t *testing.T) {
	a := startAgent(t)
	cases := []struct {
		name string
		req  Request
		err  string // "" for success
	}{
		{"hello of another protocol", Request{Op: OpHello, Version: Version + 1}, "protocol"},
		{"hello", Request{Op: OpHello, Version: Version}, ""},
		{"clock", Request{Op: OpClock}, ""},
		{"start before prepare", Request{Op: OpStart}, "before prepare"},
		{"collect before prepare", Request{Op: OpCollect}, "before prepare"},
		{"prepare without arguments", Request{Op: OpPrepare}, "without its arguments"},
		{"unknown role", Request{Op: OpPrepare, Prepare: &Prepare{Role: "emulator", Interface: "lo"}}, `unknown role "emulator"`},
		{"missing interface", Request{Op: OpPrepare, Prepare: &Prepare{Role: "receiver", Interface: "lrnosuch0", Expect: 10}}, `interface "lrnosuch0"`},
		{"sender without trace", Request{Op: OpPrepare, Prepare: &Prepare{Role: "sender", Interface: "lo"}}, "no trace"},
		{"unknown operation", Request{Op: "reboot"}, `unknown operation "reboot"`},
		{"undo with nothing to undo", Request{Op: OpUndo}, ""},
	}
	for _, c := range cases {
		r := a.call(t, c.req)
		switch {
		case c.err == "" && r.Error != "":
			t.Errorf("%s: error %q", c.name, r.Error)
		case c.err != "" && !strings.Contains(r.Error, c.err):
			t.Errorf("%s: error %q, want one containing %q", c.name, r.Error, c.err)
		}
		if c.name == "hello" && (r.Hello == nil || r.Hello.Machine == "" || r.Hello.Clock.Kernel == "") {
			t.Errorf("hello: %+v", r.Hello)
		}
		if c.name == "clock" && (r.Clock == nil || r.Clock.T3 < r.Clock.T2) {
			t.Errorf("clock: %+v", r.Clock)
		}
	}
}

// A closed input ends the agent (after undoing): the lost connection.
func TestAgentEndsWithItsInput(t *testing.T) {
	a := startAgent(t)
	a.call(t, Request{Op: OpHello, Version: Version})
	a.in.Close()
	select {
	case err := <-a.done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the agent did not end within a minute of its input closing")
	}
}

func TestBadRequestLine(t *testing.T) {
	a := startAgent(t)
	if _, err := a.in.Write([]byte("not json\n")); err != nil {
		t.Fatal(err)
	}
	line, err := a.out.ReadBytes('\n')
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(line), "bad request") {
		t.Errorf("answer to a bad line: %s", line)
	}
}

func TestSSHArgs(t *testing.T) {
	got := strings.Join(Options{SSHConfig: "/x/cfg"}.sshArgs("user@h", "cmd"), " ")
	for _, want := range []string{"-F /x/cfg", "BatchMode=yes", "ServerAliveInterval=5", "-- user@h cmd"} {
		if !strings.Contains(got, want) {
			t.Errorf("ssh args %q lack %q", got, want)
		}
	}
	if strings.Contains(strings.Join(Options{}.sshArgs("h", "c"), " "), "-F") {
		t.Error("-F without a config")
	}
	if q := shQuote(`a'b`); q != `'a'\''b'` {
		t.Errorf("shQuote = %s", q)
	}
}

package remote

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/labrun/labrun/engine/clocksync"
	"github.com/labrun/labrun/engine/kernel"
)

// MaxRequest bounds a request line: requests are small.
const MaxRequest = 1 << 20

// agent is the state of one `labrun agent`: the role it plays (one at a
// time), and the journal its settings are kept in.
type agent struct {
	ctx      context.Context
	stateDir string
	journal  *kernel.Journal

	out   *bufio.Writer
	outMu sync.Mutex

	mu   sync.Mutex
	role role      // nil until prepare, and after undo
	set  *settings // the role's settings
}

// A role is what the agent runs for one run: the sender or the receiver.
type role interface {
	start() error
	wait() (*SendResult, error)
	stop(s Stop) (Response, error)
	collect() (Response, error)
	// close ends what runs and closes the sockets; it may be called more
	// than once.
	close()
}

// Serve answers requests from in on out until in closes or ctx ends;
// then it stops what runs and undoes every setting it made, and returns.
// stateDir holds the agent's undo journal: settings an earlier agent
// left there (it was killed) are restored first.
func Serve(ctx context.Context, in io.Reader, out io.Writer, stateDir string) error {
	j, err := kernel.OpenJournal(stateDir)
	if err != nil {
		return fmt.Errorf("agent: undo journal: %w", err)
	}
	recovered, rerr := kernel.Recover(stateDir)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a := &agent{ctx: ctx, stateDir: stateDir, journal: j, out: bufio.NewWriter(out)}
	defer a.undo()
	lines := make(chan []byte)
	readErr := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(in)
		sc.Buffer(make([]byte, 64<<10), MaxRequest)
		for sc.Scan() {
			select {
			case lines <- append([]byte(nil), sc.Bytes()...):
			case <-ctx.Done():
				return
			}
		}
		readErr <- sc.Err()
	}()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-readErr:
			// The controller closed our input, or the connection is
			// gone: stop and undo (deferred).
			cancel()
			return err
		case line := <-lines:
			var req Request
			if err := json.Unmarshal(line, &req); err != nil {
				a.reply(Response{Error: "agent: bad request: " + err.Error()})
				continue
			}
			if req.Op == OpHello && rerr != nil {
				a.reply(Response{ID: req.ID, Error: "agent: restoring the settings an earlier agent left: " + rerr.Error()})
				continue
			}
			// wait blocks until the sender is done: it answers from a
			// goroutine of its own, so that stop can still reach the
			// sender. The others answer in order.
			if req.Op == OpWait {
				wg.Add(1)
				go func() { defer wg.Done(); a.reply(a.handle(req, recovered)) }()
				continue
			}
			a.reply(a.handle(req, recovered))
		}
	}
}

// reply writes one response line.
func (a *agent) reply(r Response) {
	b, err := json.Marshal(r)
	if err != nil {
		b, _ = json.Marshal(Response{ID: r.ID, Error: "agent: " + err.Error()})
	}
	a.outMu.Lock()
	defer a.outMu.Unlock()
	a.out.Write(append(b, '\n'))
	a.out.Flush() // a write to a closed connection fails: the read side notices
}

// handle answers one request.
func (a *agent) handle(req Request, recovered []kernel.Outcome) Response {
	resp, err := a.do(req, recovered)
	resp.ID = req.ID
	if err != nil {
		resp.Error = err.Error()
	}
	return resp
}

func (a *agent) do(req Request, recovered []kernel.Outcome) (Response, error) {
	switch req.Op {
	case OpClock:
		t2 := clocksync.Realtime()
		return Response{Clock: &ClockReply{T2: t2, T3: clocksync.Realtime()}}, nil
	case OpHello:
		if req.Version != Version {
			return Response{}, fmt.Errorf("agent: protocol %d, the controller speaks %d: the copied binary is not the controller's", Version, req.Version)
		}
		info := hostInfo(a.ctx)
		info.Dir, info.Recovered = a.stateDir, recovered
		return Response{Hello: &info}, nil
	case OpPrepare:
		return a.prepare(req.Prepare)
	case OpUndo:
		return Response{Outcome: a.undo()}, nil
	}
	switch req.Op {
	case OpStart, OpWait, OpStop, OpCollect:
	default:
		return Response{}, fmt.Errorf("agent: unknown operation %q", req.Op)
	}
	r := a.current()
	if r == nil {
		return Response{}, fmt.Errorf("agent: %s before prepare", req.Op)
	}
	switch req.Op {
	case OpStart:
		return Response{}, r.start()
	case OpWait:
		s, err := r.wait()
		return Response{Sent: s}, err
	case OpStop:
		if req.Stop == nil {
			req.Stop = &Stop{}
		}
		return r.stop(*req.Stop)
	}
	return r.collect() // OpCollect
}

func (a *agent) current() role {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.role
}

// settings holds what prepare changed on the host, to undo.
type settings struct {
	undo func()
	out  []kernel.Outcome
}

// prepare applies the run's settings on this host, through its journal,
// and sets the role up.
func (a *agent) prepare(p *Prepare) (Response, error) {
	if p == nil {
		return Response{}, errors.New("agent: prepare without its arguments")
	}
	a.mu.Lock()
	busy := a.role != nil
	a.mu.Unlock()
	if busy {
		return Response{}, errors.New("agent: prepare while a role is set up: undo first")
	}
	st := &settings{undo: func() {}}
	if len(p.Sysctls) > 0 {
		out, undo, err := kernel.ApplySystem(kernel.SystemSettings{Sysctls: p.Sysctls, Required: sysctlKeys(p.Sysctls)}, kernel.Permit{System: p.System, Sysctls: p.Allowed}, a.journal)
		st.out, st.undo = out, undo
		if err == nil {
			err = kernel.CheckRequired(out)
		}
		if err != nil {
			undo()
			return Response{Outcome: out}, fmt.Errorf("agent: settings: %w", err)
		}
	}
	var r role
	var err error
	switch p.Role {
	case "sender":
		r, err = newSender(a.ctx, p)
	case "receiver":
		r, err = newReceiver(p)
	default:
		err = fmt.Errorf("agent: unknown role %q: sender or receiver", p.Role)
	}
	if err != nil {
		st.undo()
		return Response{Outcome: st.out}, err
	}
	a.mu.Lock()
	a.role, a.set = r, st
	a.mu.Unlock()
	return Response{Outcome: st.out}, nil
}

func sysctlKeys(s []kernel.Sysctl) []string {
	var keys []string
	for _, c := range s {
		keys = append(keys, c.Key)
	}
	return keys
}

// undo ends the role and restores its settings; it returns what was
// restored. It may be called more than once.
func (a *agent) undo() []kernel.Outcome {
	a.mu.Lock()
	r, st := a.role, a.set
	a.role, a.set = nil, nil
	a.mu.Unlock()
	if r != nil {
		r.close()
	}
	if st == nil {
		return nil
	}
	st.undo()
	var out []kernel.Outcome
	for _, o := range st.out {
		if o.State == kernel.Applied {
			o.Reason = "undone"
			out = append(out, o)
		}
	}
	return out
}

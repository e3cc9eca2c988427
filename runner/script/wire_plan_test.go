package script

import (
	"strings"
	"testing"
)

// A sink on the wire brings a default topology and receiver, and the plan
// lists the namespaces, receiver and sender it will create; bad
// combinations fail with the script's position.
func TestWirePlan(t *testing.T) {
	p := mustEval(t, `experiment(name = "w", trace = trace.synthetic(count = 10, interval = "1ms"), timer = timer.busy(),
    sink = sink.afpacket(mode = "sendmmsg", batch = 8))`, nil)
	c := p.Runs[0].Config
	if !c.Wire() || c.Topology.MTU != 1500 || c.Receiver == nil || c.Sink.Batch != 8 || c.Sink.Mode != "sendmmsg" {
		t.Fatalf("config %+v", c)
	}
	var acts []string
	for _, a := range p.Actions {
		acts = append(acts, a.Setting+" "+a.Value)
	}
	all := strings.Join(acts, "\n")
	for _, want := range []string{"netns lr-<pid>-<run id>-*", "receiver AF_PACKET", "send afpacket sendmmsg/8"} {
		if !strings.Contains(all, want) {
			t.Errorf("actions lack %q:\n%s", want, all)
		}
	}

	// linear = True reaches the run's configuration and the plan.
	p = mustEval(t, `experiment(name = "w", trace = trace.synthetic(count = 10, interval = "1ms"), timer = timer.busy(),
    sink = sink.afpacket(mode = "ring", batch = 8, linear = True))`, nil)
	if !p.Runs[0].Config.Sink.Linear {
		t.Fatalf("sink %+v: want Linear", p.Runs[0].Config.Sink)
	}
	acts = acts[:0]
	for _, a := range p.Actions {
		acts = append(acts, a.Setting+" "+a.Value)
	}
	if all := strings.Join(acts, "\n"); !strings.Contains(all, "send afpacket ring/8 linear") {
		t.Errorf("actions lack the linear ring:\n%s", all)
	}

	// sink.afxdp and the veth's queues reach the configuration and the plan.
	p = mustEval(t, `experiment(name = "w", trace = trace.synthetic(count = 10, interval = "1ms"), timer = timer.busy(),
    sender = sweep.axis("snd", [sender.labrun(threads = "cpus", sink = sink.afxdp(batch = 64)), sender.labrun(sink = sink.afxdp(queue = 1))]),
    topology = sweep.axis("topo", [topology.veth(queues = "cpus"), topology.veth(queues = 4)]))`, nil)
	if s, tp := p.Runs[0].Config.Sink, p.Runs[0].Config.Topology; s.Kind != "afxdp" || s.Batch != 64 || s.Queue != 0 || !p.Runs[0].Config.Wire() || tp.Queues != -1 {
		t.Fatalf("sink %+v, topology %+v: want afxdp, batch 64, queue 0, a queue per CPU", s, tp)
	}
	if s, tp := p.Runs[3].Config.Sink, p.Runs[3].Config.Topology; s.Queue != 1 || s.Batch != 512 || tp.Queues != 4 {
		t.Fatalf("sink %+v, topology %+v: want queue 1, batch 512, 4 queues", s, tp)
	}
	acts = acts[:0]
	for _, a := range p.Actions {
		acts = append(acts, a.Setting+" "+a.Value)
	}
	all = strings.Join(acts, "\n")
	for _, want := range []string{"send afxdp copy/64, thread per cpu", "send afxdp copy/512 queue 1", "a queue per CPU", "4 queues"} {
		if !strings.Contains(all, want) {
			t.Errorf("actions lack %q:\n%s", want, all)
		}
	}

	p = mustEval(t, `experiment(name = "w", trace = trace.synthetic(count = 10, interval = "1ms"),
    sender = sweep.axis("sender", [sender.tcpreplay(timing = "pps", rate = "10kpps"), sender.trafgen(cpus = 2)]))`, nil)
	if k := p.Runs[0].Config.SenderKind(); k != "tcpreplay" || p.Runs[1].Config.Sender.Procs != 2 || !p.Runs[1].Config.Wire() {
		t.Fatalf("senders %+v %+v", p.Runs[0].Config.Sender, p.Runs[1].Config.Sender)
	}

	for _, tc := range []struct{ src, want string }{
		{`experiment(name = "w", trace = trace.synthetic(count = 10, interval = "1ms"))`, "give timer ="},
		{`experiment(name = "w", trace = trace.synthetic(count = 10, interval = "1ms"), timer = timer.busy(), topology = topology.veth())`, "need a sender on the wire"},
		{`experiment(name = "w", trace = trace.synthetic(count = 10, interval = "1ms", frame = "9000B"), timer = timer.busy(), sink = sink.afpacket())`, "do not fit the topology's MTU 1500"},
		{`experiment(name = "w", trace = trace.synthetic(count = 10, interval = "1ms"), sender = sender.labrun(timer = timer.busy(), threads = 2))`, "needs a sink on the wire"},
		{`experiment(name = "w", trace = trace.synthetic(count = 10, interval = "1ms", poisson = True), sender = sender.trafgen())`, "sender.trafgen sends one frame size at a fixed gap"},
		{`sender.tcpreplay(timing = "pps")`, "needs rate"},
		{`sender.tcpreplay(timing = "mbps", rate = "10kpps")`, "give a packet rate (pps) for \"pps\" and a bit rate (bps) for \"mbps\""},
		{`sender.labrun(threads = "all")`, "want a number of threads 1..64 or \"cpus\""},
		{`sink.afpacket(mode = "sendmmsg", batch = 8, linear = True)`, `it goes with mode = "ring"`},
		{`sink.afxdp(batch = 0)`, "batch"},
		{`experiment(name = "w", trace = trace.synthetic(count = 10, interval = "1ms", flows = 2), timer = timer.busy(), sink = sink.afxdp(), sender = sender.labrun(threads = 2))`, "binds a queue per sending thread, queues 0..1, and the veth has 1: give topology.veth(queues = 2)"},
		{`experiment(name = "w", trace = trace.synthetic(count = 10, interval = "1ms"), timer = timer.busy(), sink = sink.afxdp(queue = 1), topology = topology.veth(queues = 1))`, "queues 1..1, and the veth has 1"},
		{`experiment(name = "w", trace = trace.synthetic(count = 10, interval = "1ms", frame = "3000B"), timer = timer.busy(), sink = sink.afxdp(), topology = topology.veth(mtu = 9000))`, "sink.afxdp sends frames of up to 2048 B"},
		{`sink.afxdp(queue = -1)`, "queue"},
		{`topology.veth(queues = "all")`, `want a number of queues 1..64 or "cpus"`},
		{`topology.veth(queues = 65)`, "queues"},
		{`experiment(name = "w", trace = trace.synthetic(count = 10, interval = "1ms"), timer = timer.busy(), sink = sink.afxdp(), topology = topology.veth(rps = 0, queues = 2))`, "rps steers the first receive queue"},
		{`experiment(name = "w", trace = trace.synthetic(count = 10, interval = "1ms"), timer = timer.busy(), sink = sink.afpacket(), receiver = receiver.afpacket(capture = True, fanout = True))`, "fanout = True walks a ring per CPU in turn"},
	} {
		_, err := evalSrc(t, tc.src, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant %q", tc.src, err, tc.want)
			continue
		}
		checkErrorForm(t, err)
	}
}

// sender.labrun's profile: True is one packet in 64, N every Nth, False
// off; anything else fails at its position with the accepted forms.
func TestSenderProfile(t *testing.T) {
	for _, tc := range []struct {
		arg  string
		want int
	}{{"True", 64}, {"False", 0}, {"1", 1}, {"1000", 1000}} {
		p := mustEval(t, `experiment(name = "w", trace = trace.synthetic(count = 10, interval = "1ms"),
    sender = sender.labrun(timer = timer.busy(), sink = sink.afpacket(pad = True), profile = `+tc.arg+`))`, nil)
		c := p.Runs[0].Config
		if c.Sender.ProfileEvery() != tc.want || !c.Sink.Pad {
			t.Errorf("profile = %s: every %d, pad %v; want %d, pad", tc.arg, c.Sender.ProfileEvery(), c.Sink.Pad, tc.want)
		}
	}
	for _, arg := range []string{`"yes"`, "0", "-1", "2.5", "1000001", "[64]", "None + 1"} {
		src := `sender.labrun(timer = timer.busy(), profile = ` + arg + `)`
		_, err := evalSrc(t, src, nil)
		if arg == "None + 1" {
			if err == nil {
				t.Errorf("%s: no error", src)
			}
			continue
		}
		want := "want True (one packet in 64), False, or N, every Nth packet (1..1000000)"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s:\n got %v\nwant %q", src, err, want)
			continue
		}
		checkErrorForm(t, err)
	}
}

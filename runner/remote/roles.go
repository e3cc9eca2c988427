package remote

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/labrun/labrun/engine/clocksync"
	"github.com/labrun/labrun/engine/replay"
	"github.com/labrun/labrun/engine/rx"
	"github.com/labrun/labrun/engine/timer"
	"github.com/labrun/labrun/engine/trace"
	"github.com/labrun/labrun/engine/tx"
)

// ifindex finds a named interface of this host (in the agent's network
// namespace).
func ifindex(name string) (int, error) {
	if name == "" {
		return 0, errors.New("no interface named: give host(..., interface = \"eth1\")")
	}
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return 0, fmt.Errorf("interface %q on this host: %w", name, err)
	}
	return ifi.Index, nil
}

// sender replays a synthetic trace on a named interface with labrun's
// engine.
type sender struct {
	cancel  context.CancelFunc
	ctx     context.Context
	cfg     replay.Config
	sink    tx.Sink
	once    sync.Once
	started bool
	done    chan struct{}
	res     *replay.Result
	err     error
}

func newSender(ctx context.Context, p *Prepare) (*sender, error) {
	if p.Trace == nil {
		return nil, errors.New("sender: no trace")
	}
	idx, err := ifindex(p.Interface)
	if err != nil {
		return nil, err
	}
	src, err := trace.NewSynth(*p.Trace)
	if err != nil {
		return nil, err
	}
	mode, err := timer.ParseMode(p.Timer.Mode)
	if err != nil {
		return nil, err
	}
	pm := tx.PacketSendto
	if p.Mode != "" {
		if pm, err = tx.ParsePacketMode(p.Mode); err != nil {
			return nil, err
		}
	}
	sink, err := tx.NewPacket(tx.PacketConfig{Ifindex: idx, Mode: pm, Batch: max(p.Batch, 1), QdiscBypass: p.Bypass, MaxFrame: p.MaxFrame, Linear: p.Linear})
	if err != nil {
		return nil, fmt.Errorf("sender socket on %s: %w", p.Interface, err)
	}
	s := &sender{sink: sink, done: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(ctx)
	s.cfg = replay.Config{Source: src, Sink: sink,
		Timer: timer.Config{Mode: mode, Period: time.Duration(p.Timer.Period), Margin: time.Duration(p.Timer.Margin), MaxMargin: time.Duration(p.Timer.MaxMargin)}}
	if p.CPU != nil {
		s.cfg.Kernel.CPUs = []int{*p.CPU}
	}
	return s, nil
}

func (s *sender) start() error {
	if s.started {
		return errors.New("sender: already started")
	}
	s.started = true
	go func() {
		defer close(s.done)
		s.res, s.err = replay.Run(s.ctx, s.cfg)
	}()
	return nil
}

func (s *sender) wait() (*SendResult, error) {
	if !s.started {
		return nil, errors.New("sender: wait before start")
	}
	<-s.done
	if s.err != nil {
		return nil, s.err
	}
	return &SendResult{Sent: uint64(s.res.Sink.Packets), Interrupted: s.res.Interrupted, Metrics: s.res.Metrics()}, nil
}

func (s *sender) stop(Stop) (Response, error) {
	s.cancel()
	if !s.started {
		return Response{}, nil
	}
	r, err := s.wait()
	return Response{Sent: r}, err
}

// collect returns the send times on this host's CLOCK_REALTIME.
func (s *sender) collect() (Response, error) {
	if !s.started {
		return Response{}, errors.New("sender: collect before start")
	}
	<-s.done
	if s.err != nil || s.res == nil {
		return Response{}, errors.New("sender: nothing was sent")
	}
	pair := clocksync.Pair()
	t := &Times{Start: s.res.Start + pair, Actual: make([]int64, len(s.res.Actual))}
	for i, a := range s.res.Actual {
		if a != 0 {
			t.Actual[i] = a + pair
		}
	}
	return Response{Times: t}, nil
}

func (s *sender) close() {
	s.once.Do(func() {
		s.cancel()
		if s.started {
			<-s.done
		}
		s.sink.Close()
	})
}

// receiver takes what arrives on a named interface.
type receiver struct {
	rcv    *rx.Receiver
	res    *rx.Result
	once   sync.Once
	active bool
}

func newReceiver(p *Prepare) (*receiver, error) {
	idx, err := ifindex(p.Interface)
	if err != nil {
		return nil, err
	}
	rcv, err := rx.Open(rx.Config{Ifindex: idx, Expect: p.Expect, CPU: -1})
	if err != nil {
		return nil, fmt.Errorf("receiver on %s: %w", p.Interface, err)
	}
	return &receiver{rcv: rcv}, nil
}

func (r *receiver) start() error {
	r.rcv.Start()
	r.active = true
	return nil
}

func (r *receiver) wait() (*SendResult, error) {
	return nil, errors.New("receiver: wait is the sender's")
}

// stop drains and stops the receiver; the arrival times move onto this
// host's CLOCK_REALTIME.
func (r *receiver) stop(s Stop) (Response, error) {
	if r.res != nil {
		return Response{}, nil
	}
	res, err := r.rcv.Stop(s.Sent, time.Duration(s.Quiet), time.Duration(s.Drain))
	if err != nil {
		return Response{}, err
	}
	pair := clocksync.Pair()
	for i, a := range res.Arrival {
		if a != 0 {
			res.Arrival[i] = a + pair
		}
	}
	if res.FirstAny != 0 {
		res.FirstAny += pair
		res.LastAny += pair
	}
	r.res = res
	return Response{}, nil
}

func (r *receiver) collect() (Response, error) {
	if r.res == nil {
		return Response{}, errors.New("receiver: collect before stop")
	}
	return Response{Rx: r.res}, nil
}

func (r *receiver) close() { r.once.Do(func() { r.rcv.Close() }) }

package link

import (
	"errors"
	"time"

	"github.com/labrun/labrun/engine/tx"
)

// Sink runs an emulated link in-process, between a packet source and
// another sink: Send is the input stage (on the sender's thread, with the
// send time as the arrival time), and the output stage hands each frame to
// the next sink at its release time, on a thread of its own.
type Sink struct {
	p      *Pipe
	next   tx.Sink
	drain  time.Duration
	closed bool
}

// nextOut releases frames into a tx.Sink, flushing a batching one whenever
// nothing more is due.
type nextOut struct {
	next tx.Sink
	b    tx.Batcher
}

func (o *nextOut) Release(f []byte, _, now int64) error { return o.next.Send(f, now) }
func (o *nextOut) Flush() error {
	if o.b != nil && o.b.Pending() > 0 {
		return o.b.Flush()
	}
	return nil
}

// NewSink starts the output stage of an emulated link in front of next.
// Close drains the link for at most drain, then closes next.
func NewSink(cfg PipeConfig, next tx.Sink, drain time.Duration) (*Sink, error) {
	if next == nil {
		return nil, errors.New("link sink: no next sink")
	}
	out := &nextOut{next: next}
	out.b, _ = next.(tx.Batcher)
	p, err := NewPipe(cfg, out)
	if err != nil {
		return nil, err
	}
	if err := p.Start(); err != nil {
		return nil, err
	}
	return &Sink{p: p, next: next, drain: drain}, nil
}

// Send implements tx.Sink: the frame enters the link at time at.
func (s *Sink) Send(frame []byte, at int64) error {
	s.p.Put(frame, at)
	s.p.Publish()
	return nil
}

// Close drains the link and closes the next sink.
func (s *Sink) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.p.Close(s.drain)
	return errors.Join(err, s.next.Close())
}

// Stats implements tx.Sink: what the next sink saw.
func (s *Sink) Stats() tx.Stats { return s.next.Stats() }

// PipeStats is what the link did; call it after Close.
func (s *Sink) PipeStats() PipeStats { return s.p.Stats() }

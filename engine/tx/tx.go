// Package tx holds the places packets go: sinks called from the timed loop.
//
// Send runs once per packet inside the timed loop, so a sink must not
// allocate, lock or block on anything but its own output there.
package tx

// Sink receives frames at their actual send time.
type Sink interface {
	// Send delivers one frame; at is the actual send time (clock.Now scale).
	Send(frame []byte, at int64) error
	// Close flushes and releases the sink.
	Close() error
	// Stats reports what the sink saw.
	Stats() Stats
}

// Batcher is a sink that queues frames and hands them to the kernel in
// batches. Send queues a frame and sends the batch when it is full;
// Pending is the number of frames queued and not yet sent (0 right after a
// batch left). The replay loop stamps every frame of a batch with the time
// the batch left, and calls Flush once after the last frame.
type Batcher interface {
	Sink
	Pending() int
	Flush() error
}

// Roomer is a Batcher that knows how many more frames Send queues before
// the one that sends the batch: Room() > 1 means the next Send only
// copies. The replay loop uses it to read the clock once per batch at
// topspeed (a clock reading costs 25-40 ns on a VM, most of the loop's own
// time), never before the Send that hands a batch to the kernel.
type Roomer interface {
	Room() int
}

// Stats counts a sink's work.
type Stats struct {
	Packets int64 // frames the kernel accepted
	Bytes   int64
	Errors  int64 // frames given up after retries: counted, never silently lost
	// Retries counts sends repeated after ENOBUFS or EAGAIN.
	Retries int64
	// Syscalls counts the system calls that sent frames.
	Syscalls int64
}

// Null discards frames: the engine's own cost, nothing else.
type Null struct{ st Stats }

// Send implements Sink.
func (n *Null) Send(frame []byte, _ int64) error {
	n.st.Packets++
	n.st.Bytes += int64(len(frame))
	return nil
}

// Close implements Sink.
func (n *Null) Close() error { return nil }

// Stats implements Sink.
func (n *Null) Stats() Stats { return n.st }

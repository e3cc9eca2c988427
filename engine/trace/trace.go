// Package trace provides packet sources: a frame and the offset of its
// scheduled send time from the start of the replay.
//
// Sources are read from the timed loop, so Next must not allocate: a
// source fills a caller-owned Packet and may reuse its frame buffer for
// every packet.
package trace

// Packet is one packet of a source.
type Packet struct {
	// Offset is the scheduled send time relative to the replay's start, ns.
	Offset int64
	// Seq is the packet's index in the source (0-based).
	Seq uint64
	// Frame is the Ethernet frame without FCS. It is valid until the next
	// call to Next.
	Frame []byte
}

// Source yields packets in schedule order.
type Source interface {
	// Len is the number of packets the source yields.
	Len() int
	// Next fills p with the next packet and reports whether there was one.
	Next(p *Packet) bool
	// Rewind starts the source again from its first packet.
	Rewind()
}

// Parter is a Source that can yield only the packets of one FlowPart part
// without building the others: a sending thread of several then skips the
// other threads' packets by index, not by reading each frame's flow.
type Parter interface {
	// Part restricts the source to the packets p with FlowPart(p.Frame, n)
	// == k, for good (Rewind keeps it), and reports whether it could.
	Part(k, n int) bool
}

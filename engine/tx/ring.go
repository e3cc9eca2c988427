package tx

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// DefaultRingFrames is the smallest default TX ring (slots); the default is
// this or 2*Batch, whichever is larger. Small is fast: the slots a batch
// fills are still in the cache when the kernel reads them in the send call.
// At topspeed on a veth (sender, kernel path and receive work on one CPU,
// 64 B frames) rings of 512 and 1024 slots sent 1.44-1.55 M frames/s where
// 4096 slots sent 0.88-1.33 M in the same invocations. In flight on a veth
// is bounded by the send buffer first (about 270 frames of 64 B at the
// default 212,992 bytes), so 512 slots do not hold the sender back.
const DefaultRingFrames = 512

// DefaultRingBytes bounds the default ring: the user fills each slot and the
// kernel reads it back in the send call, so the ring should stay in the
// sending CPU's own cache (an EPYC core's L2 is 512 KiB). At topspeed on a
// veth with 1514-byte frames (2 KiB slots), rings of 128 and 256 slots sent
// 1.28-1.29 M frames/s, 512 slots 1.20 M and 1024 slots 1.17 M (medians of
// six, interleaved in one invocation).
const DefaultRingBytes = 256 << 10

// defaultRingFrames is the default number of slots for batches of batch
// frames of at most maxFrame bytes: DefaultRingFrames or 2*batch, at most
// what DefaultRingBytes holds, at least batch.
func defaultRingFrames(batch, maxFrame int) int {
	fs, _, _ := ringGeometry(unix.SizeofTpacket3Hdr, maxFrame, 1) // the larger header
	return max(batch, min(max(DefaultRingFrames, 2*batch), DefaultRingBytes/fs))
}

const (
	tpacketAlign = 16 // TPACKET_ALIGNMENT
	pageSize     = 4096
	maxBlockPage = 32 // largest block tried: 128 KiB (order-5 allocation)
	// sockaddrLLSize is sizeof(struct sockaddr_ll): the kernel places TX
	// data at TPACKETx_HDRLEN - sizeof(struct sockaddr_ll).
	sockaddrLLSize = 20
	// busy is the set of status bits that keep a slot from the user.
	busy = unix.TP_STATUS_SEND_REQUEST | unix.TP_STATUS_SENDING | unix.TP_STATUS_WRONG_FORMAT
)

// vnetHdrLen is sizeof(struct virtio_net_hdr), the header PACKET_VNET_HDR
// puts before each frame.
const vnetHdrLen = 10

func tpAlign(n int) int { return (n + tpacketAlign - 1) &^ (tpacketAlign - 1) }

// txRing is a mapped PACKET_TX_RING. Slots are filled in order; queued slots
// are sent..head-1 (modulo n), all in TP_STATUS_SEND_REQUEST until the
// kernel takes them, which it does in the same order during a send call.
type txRing struct {
	mem       []byte
	off       []int // byte offset of each slot in mem
	n         int   // slots
	frameSize int
	blockSize int
	blocks    int
	dataOff   int // data offset inside a slot (the virtio header, if any, then the frame)
	vnet      int // virtio_net_hdr bytes before each frame: 0, or vnetHdrLen with a linear head
	linear    int // frame bytes the kernel copies into the socket buffer's head (vnet > 0)
	statusOff int // tp_status offset inside a slot
	lenOff    int // tp_len offset inside a slot
	maxData   int // largest frame a slot holds
	head      int // next slot to fill
	sent      int // oldest queued slot
	queued    int // slots filled and not yet taken by the kernel
}

// ringGeometry chooses slot and block sizes for at least frames slots of
// maxFrame bytes: slots are TPACKET_ALIGNed, blocks a whole number of pages
// (at most 128 KiB) wasting the smallest fraction, and the slot count is
// rounded up to whole blocks.
//
// A slot that fits in a page is a power of two, so that no slot straddles
// two pages: the kernel sends a slot's frame as fragments of the ring's
// pages, one per page it touches, and a second fragment costs the sending
// and the receiving side (a 1514-byte frame in 1536-byte slots crossed a
// page in one slot of three).
func ringGeometry(hdrLen, maxFrame, frames int) (frameSize, blockSize, blocks int) {
	// The kernel wants room for TPACKETx_HDRLEN (header + sockaddr_ll).
	frameSize = tpAlign(tpAlign(hdrLen) + max(maxFrame, sockaddrLLSize))
	if frameSize <= pageSize {
		frameSize = 1 << bits.Len(uint(frameSize-1))
	}
	best := -1.0
	for pages := 1; pages <= maxBlockPage; pages++ {
		bs := pages * pageSize
		fpb := bs / frameSize
		if fpb == 0 {
			continue
		}
		waste := float64(bs-fpb*frameSize) / float64(bs)
		if best < 0 || waste < best-1e-9 {
			best, blockSize = waste, bs
		}
	}
	if blockSize == 0 {
		// A slot larger than the largest block: one slot per block.
		blockSize = (frameSize + pageSize - 1) &^ (pageSize - 1)
	}
	fpb := blockSize / frameSize
	blocks = (frames + fpb - 1) / fpb
	return frameSize, blockSize, blocks
}

// newTxRing sets the socket's packet version, sets up and maps a TX ring.
// version is unix.TPACKET_V2 or unix.TPACKET_V3 (same kernel TX path,
// different slot header).
func newTxRing(fd, version, maxFrame, frames, linear int) (*txRing, error) {
	r := &txRing{}
	if linear > 0 {
		// Before the ring: the kernel refuses PACKET_VNET_HDR once it is mapped.
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
			return nil, fmt.Errorf("tx ring: PACKET_VNET_HDR: %w", err)
		}
		r.vnet, r.linear = vnetHdrLen, linear
		maxFrame += vnetHdrLen
	}
	var hdr int
	switch version {
	case unix.TPACKET_V2:
		hdr, r.statusOff, r.lenOff = unix.SizeofTpacket2Hdr, 0, 4
	case unix.TPACKET_V3:
		hdr, r.statusOff, r.lenOff = unix.SizeofTpacket3Hdr, 20, 16
	default:
		return nil, fmt.Errorf("tx ring: packet version %d: want TPACKET_V2 or TPACKET_V3", version)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, version); err != nil {
		return nil, fmt.Errorf("tx ring: PACKET_VERSION %d: %w", version, err)
	}
	r.dataOff = tpAlign(hdr)
	r.frameSize, r.blockSize, r.blocks = ringGeometry(hdr, maxFrame, frames)
	fpb := r.blockSize / r.frameSize
	r.n = fpb * r.blocks
	r.maxData = r.frameSize - r.dataOff - r.vnet
	var err error
	if version == unix.TPACKET_V2 {
		err = unix.SetsockoptTpacketReq(fd, unix.SOL_PACKET, unix.PACKET_TX_RING, &unix.TpacketReq{
			Block_size: uint32(r.blockSize), Block_nr: uint32(r.blocks),
			Frame_size: uint32(r.frameSize), Frame_nr: uint32(r.n)})
	} else {
		err = unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_TX_RING, &unix.TpacketReq3{
			Block_size: uint32(r.blockSize), Block_nr: uint32(r.blocks),
			Frame_size: uint32(r.frameSize), Frame_nr: uint32(r.n)})
	}
	if err != nil {
		return nil, fmt.Errorf("tx ring: PACKET_TX_RING of %d slots of %d bytes in %d blocks of %d bytes: %w",
			r.n, r.frameSize, r.blocks, r.blockSize, err)
	}
	r.mem, err = unix.Mmap(fd, 0, r.blockSize*r.blocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("tx ring: mmap of %d bytes: %w", r.blockSize*r.blocks, err)
	}
	r.off = make([]int, r.n)
	for i := range r.off {
		r.off[i] = (i/fpb)*r.blockSize + (i%fpb)*r.frameSize
	}
	return r, nil
}

func (r *txRing) statusPtr(s int) *uint32 {
	return (*uint32)(unsafe.Pointer(&r.mem[r.off[s]+r.statusOff]))
}

func (r *txRing) status(s int) uint32 { return atomic.LoadUint32(r.statusPtr(s)) }

// setStatus publishes a slot: the store is a full barrier, so the frame
// and length written before it are visible to the kernel first.
func (r *txRing) setStatus(s int, v uint32) { atomic.StoreUint32(r.statusPtr(s), v) }

// length is the length of the frame in slot s.
func (r *txRing) length(s int) int {
	return int(*(*uint32)(unsafe.Pointer(&r.mem[r.off[s]+r.lenOff]))) - r.vnet
}

// frame is the frame in slot s.
func (r *txRing) frame(s int) []byte {
	o := r.off[s] + r.dataOff + r.vnet
	return r.mem[o : o+r.length(s)]
}

func (r *txRing) next(s int) int {
	if s++; s == r.n {
		return 0
	}
	return s
}

// put copies frame into slot s and hands it to the kernel (SEND_REQUEST).
// The status is a plain store, not an atomic one (on amd64 an XCHG, a full
// barrier: 1.4 % of the sending thread's time at topspeed, measured with
// perf): the kernel reads SEND_REQUEST slots only inside this thread's own
// send call (tpacket_snd; no kernel thread polls a TX ring), which comes
// after the store in program order, and the kernel writes only slots it
// owns.
//
// With a virtio header (vnet) the frame follows a struct virtio_net_hdr
// with no offload asked (flags and gso_type 0) and hdr_len = the bytes of
// the frame the kernel copies into the socket buffer's head rather than
// attaching as a fragment of the ring's page (tpacket_snd's copylen).
func (r *txRing) put(s int, frame []byte) {
	o := r.off[s] + r.dataOff
	n := len(frame)
	if r.vnet != 0 {
		h := (*[vnetHdrLen]byte)(r.mem[o : o+vnetHdrLen])
		*h = [vnetHdrLen]byte{}
		binary.LittleEndian.PutUint16(h[2:], uint16(min(n, r.linear)))
		o += vnetHdrLen
	}
	copy(r.mem[o:o+n], frame)
	*(*uint32)(unsafe.Pointer(&r.mem[r.off[s]+r.lenOff])) = uint32(n + r.vnet)
	*r.statusPtr(s) = unix.TP_STATUS_SEND_REQUEST
}

// push queues frame in the head slot, which must not be busy.
func (r *txRing) push(frame []byte) {
	r.put(r.head, frame)
	r.head = r.next(r.head)
	r.queued++
}

// drop removes the queued slot the kernel refused (TP_STATUS_WRONG_FORMAT,
// always the oldest queued: the kernel stops there without moving its
// head). The later queued frames move back one slot, so the kernel finds a
// sendable frame where it stopped and the order is kept. Only called
// between send calls, when the kernel does not touch SEND_REQUEST slots.
func (r *txRing) drop() {
	i := r.sent
	for k := 1; k < r.queued; k++ {
		j := r.next(i)
		r.put(i, r.frame(j))
		i = j
	}
	r.setStatus(i, unix.TP_STATUS_AVAILABLE)
	r.head = i
	r.queued--
}

// retract takes back every queued slot (given up) and returns how many.
func (r *txRing) retract() int {
	n := r.queued
	for s := r.sent; r.queued > 0; s = r.next(s) {
		r.setStatus(s, unix.TP_STATUS_AVAILABLE)
		r.queued--
	}
	r.head = r.sent
	return n
}

// inFlight reports whether any slot is still owned by the kernel.
func (r *txRing) inFlight() bool {
	for s := range r.n {
		if r.status(s)&busy != 0 {
			return true
		}
	}
	return false
}

func (r *txRing) unmap() error {
	if r.mem == nil {
		return nil
	}
	err := unix.Munmap(r.mem)
	r.mem = nil
	return err
}

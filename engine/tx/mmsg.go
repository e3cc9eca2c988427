package tx

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// MaxBatch is the largest Batch. One sendmmsg call takes at most
// UIO_MAXIOV (1024) messages, so a larger batch leaves in several calls.
const MaxBatch = 4096

// mmsg is a preallocated sendmmsg batch: frames are copied into fixed slots
// of one buffer, each message with one iovec pointing at its slot.
type mmsg struct {
	hdrs []unix.Mmsghdr
	iovs []unix.Iovec
	lens []int // length of each queued message's frame, for Stats.Bytes
	buf  []byte
	slot int // bytes per slot
	n    int // messages queued
}

func newMmsg(batch, slot int) *mmsg {
	slot = (slot + 63) &^ 63
	m := &mmsg{
		hdrs: make([]unix.Mmsghdr, batch),
		iovs: make([]unix.Iovec, batch),
		lens: make([]int, batch),
		buf:  make([]byte, batch*slot),
		slot: slot,
	}
	for i := range m.hdrs {
		m.iovs[i].Base = &m.buf[i*slot]
		m.hdrs[i].Hdr.Iov = &m.iovs[i]
		m.hdrs[i].Hdr.Iovlen = 1
	}
	// Touch the buffer so page faults do not land in the timed loop.
	for i := 0; i < len(m.buf); i += 4096 {
		m.buf[i] = 0
	}
	return m
}

// add queues a copy of b (len(b) <= slot), sent for a frame of frameLen
// bytes, and reports whether the batch is now full.
func (m *mmsg) add(b []byte, frameLen int) bool {
	copy(m.buf[m.n*m.slot:], b)
	m.iovs[m.n].SetLen(len(b))
	m.lens[m.n] = frameLen
	m.n++
	return m.n == len(m.hdrs)
}

// flush hands the queued messages to the kernel with sendmmsg, in order,
// until all are accepted or given up: a partial count sends the rest;
// ENOBUFS and EAGAIN are retried with back-off; a message refused with any
// other errno is counted in Errors and skipped. It returns the first error.
func (s *sock) flush(what string, m *mmsg) error {
	var first error
	off := 0
	s.bo.reset()
	for off < m.n {
		vlen := m.n - off
		if s.inj.maxVlen > 0 {
			vlen = min(vlen, s.inj.maxVlen)
		}
		r, errno := s.syscall6(unix.SYS_SENDMMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&m.hdrs[off])),
			uintptr(vlen), unix.MSG_DONTWAIT, 0, 0)
		if errno == 0 && r > 0 {
			for i := off; i < off+int(r); i++ {
				s.st.Bytes += int64(m.lens[i])
			}
			s.st.Packets += int64(r)
			off += int(r)
			s.bo.reset()
			continue
		}
		if errno == 0 {
			errno = unix.EAGAIN // 0 messages and no error: treat as no room
		}
		if retryable(errno) {
			if s.bo.wait() {
				s.st.Retries++
				continue
			}
			s.st.Errors += int64(m.n - off)
			if first == nil {
				first = s.sendErr(what, "sendmmsg", m.n-off, errno)
			}
			break
		}
		// The first message of the call was refused: skip it, send the rest.
		s.st.Errors++
		if first == nil {
			first = s.sendErr(what, "sendmmsg", 1, errno)
		}
		off++
		s.bo.reset()
	}
	m.n = 0
	return first
}

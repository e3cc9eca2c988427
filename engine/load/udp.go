package load

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// udpWorker floods loopback with UDP at a bounded rate, inside a network
// namespace of its own: the sockets are made on a thread that has left
// labrun's namespace (unshare CLONE_NEWNET), where the only interface is
// a fresh lo. No packet can reach a host interface.
type udpWorker struct {
	s      Spec
	tx, rx int
}

func newUDP(s Spec) (*udpWorker, error) {
	type result struct {
		w   *udpWorker
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// This thread changes namespace and is never unlocked: the runtime
		// discards it when the goroutine ends, so no other goroutine ever
		// runs in the new namespace. The sockets keep the namespace they
		// were made in.
		runtime.LockOSThread()
		w, err := udpSetup(s)
		ch <- result{w, err}
	}()
	r := <-ch
	return r.w, r.err
}

func udpSetup(s Spec) (*udpWorker, error) {
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return nil, fmt.Errorf("unshare(CLONE_NEWNET): %v (needs root, or unprivileged user namespaces)", err)
	}
	if err := loUp(); err != nil {
		return nil, fmt.Errorf("bringing lo up in the new namespace: %v", err)
	}
	sock := func() (int, error) {
		return unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	}
	rx, err := sock()
	if err != nil {
		return nil, err
	}
	tx, err := sock()
	if err != nil {
		unix.Close(rx)
		return nil, err
	}
	w := &udpWorker{s: s, tx: tx, rx: rx}
	fail := func(what string, err error) (*udpWorker, error) {
		w.close()
		return nil, fmt.Errorf("%s: %v", what, err)
	}
	lo := [4]byte{127, 0, 0, 1}
	if err := unix.Bind(rx, &unix.SockaddrInet4{Addr: lo}); err != nil {
		return fail("bind 127.0.0.1", err)
	}
	sa, err := unix.Getsockname(rx)
	if err != nil {
		return fail("getsockname", err)
	}
	_ = unix.SetsockoptInt(rx, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	tv := unix.NsecToTimeval((50 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(rx, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fail("SO_RCVTIMEO", err)
	}
	if err := unix.SetsockoptTimeval(tx, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv); err != nil {
		return fail("SO_SNDTIMEO", err)
	}
	if err := unix.Connect(tx, sa); err != nil {
		return fail("connect", err)
	}
	return w, nil
}

// loUp sets IFF_UP on lo of the calling thread's network namespace.
func loUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

func (w *udpWorker) close() {
	unix.Close(w.tx)
	unix.Close(w.rx)
}

func (w *udpWorker) run(stop *atomic.Bool) (Report, error) {
	rep := Report{Unit: "pkts/s"}
	var recv, recvErrs uint64
	var sendDone atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 65536)
		for {
			// Once the sender is done, drain what is queued and end.
			done := sendDone.Load()
			flags := 0
			if done {
				flags = unix.MSG_DONTWAIT
			}
			n, _, err := unix.Recvfrom(w.rx, buf, flags)
			switch {
			case err == nil && n == 0:
				// the sender's end marker: drain and end
				sendDone.Store(true)
			case err == nil:
				recv++
			case err == unix.EAGAIN || err == unix.EINTR:
				if done {
					return
				}
			default:
				recvErrs++
				if done {
					return
				}
			}
		}
	}()

	payload := make([]byte, w.s.Size) // Size >= 1: empty is the end marker
	rateHz := w.s.Rate
	// At most 2 ms worth of packets go out back to back; a sender that
	// fell further behind drops the backlog rather than exceed the rate.
	burst := max(1, int64(rateHz*0.002))
	var sent, attempts, sendErrs, skipped int64
	start := time.Now()
	var err error
	for !stop.Load() {
		el := time.Since(start)
		due := int64(el.Seconds()*rateHz) + 1 // packets due by now
		if due-attempts > burst {
			skipped += due - burst - attempts
			attempts = due - burst
		}
		for ; attempts < due; attempts++ {
			_, e := unix.Write(w.tx, payload)
			switch {
			case e == nil:
				sent++
			case e == unix.EAGAIN || e == unix.ENOBUFS || e == unix.EINTR || e == unix.ECONNREFUSED:
				sendErrs++
			default:
				err = fmt.Errorf("send: %v", e)
				stop.Store(true)
			}
		}
		next := time.Duration(float64(attempts) / rateHz * 1e9)
		if d := next - time.Since(start); d > 0 {
			time.Sleep(d)
		}
	}
	wall := time.Since(start)
	unix.Write(w.tx, nil) // an empty datagram ends the receiver's wait at once
	sendDone.Store(true)
	wg.Wait()
	if recvErrs > 0 && err == nil {
		err = errors.New("receive errors")
	}
	rep.Work = rate(float64(sent), wall)
	lost := 0.0
	if sent > 0 {
		lost = max(0, float64(sent)-float64(recv)) / float64(sent)
	}
	rep.Details = map[string]float64{
		"target_pps":  rateHz,
		"recv_pps":    rate(float64(recv), wall),
		"size":        float64(w.s.Size),
		"send_errors": float64(sendErrs),
		"skipped":     float64(skipped), // packets not sent to keep the rate bounded after a stall
		"lost":        lost,
	}
	return rep, err
}

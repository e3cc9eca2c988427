package rx

import (
	"fmt"
	"math"
	"strconv"

	"golang.org/x/sys/unix"
)

// Hardware receive timestamps (Config.Hardware): the socket asks for the
// NIC's raw stamps (PACKET_TIMESTAMP with SOF_TIMESTAMPING_RAW_HARDWARE),
// which the kernel puts in the ring in place of its own when the driver
// has one for the frame (TP_STATUS_TS_RAW_HARDWARE). The NIC must have
// been told to stamp received frames (SIOCSHWTSTAMP, topo's
// EnableRxTimestamps). A raw stamp is on the NIC's PTP hardware clock
// (/dev/ptpN): the receiver relates that clock to CLOCK_REALTIME with
// PTP_SYS_OFFSET_EXTENDED at Open and at Stop (the reading with the
// narrowest bracket of 25), and converts each stamp with the offset
// interpolated between the two, on to the clock.Now scale as for software
// stamps. Frames the NIC did not stamp keep the kernel's software stamp;
// Result.HardwareStamped counts the others.

// phcSample is one reading of realtime - PHC.
type phcSample struct {
	offset  int64 // realtime - phc, ns
	bracket int64 // width of the realtime bracket around the PHC read
}

// phcSamples is how many readings one PTP_SYS_OFFSET_EXTENDED request takes.
const phcSamples = 25

// openPHC opens /dev/ptp<index> for reading.
func openPHC(index int) (int, error) {
	path := "/dev/ptp" + strconv.Itoa(index)
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("rx: opening the NIC's clock %s: %w", path, err)
	}
	return fd, nil
}

// samplePHC reads realtime - PHC with the narrowest bracket.
func samplePHC(fd int) (phcSample, error) {
	v, err := unix.IoctlPtpSysOffsetExtended(fd, phcSamples)
	if err != nil {
		return phcSample{}, fmt.Errorf("rx: relating the NIC's clock to the system's (PTP_SYS_OFFSET_EXTENDED): %w", err)
	}
	ns := func(t unix.PtpClockTime) int64 { return t.Sec*1e9 + int64(t.Nsec) }
	best := phcSample{bracket: math.MaxInt64}
	for i := range min(int(v.Samples), phcSamples) {
		before, phc, after := ns(v.Ts[i][0]), ns(v.Ts[i][1]), ns(v.Ts[i][2])
		if b := after - before; b >= 0 && b < best.bracket {
			best = phcSample{offset: before + b/2 - phc, bracket: b}
		}
	}
	if best.bracket == math.MaxInt64 {
		return best, fmt.Errorf("rx: the NIC's clock gave no usable reading")
	}
	return best, nil
}

// enableHardware asks the socket for raw hardware stamps, opens the
// interface's clock and takes the first reading of its offset.
func (r *Receiver) enableHardware(fd int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_TIMESTAMP, unix.SOF_TIMESTAMPING_RAW_HARDWARE); err != nil {
		return fmt.Errorf("rx: asking for hardware timestamps (PACKET_TIMESTAMP): %w", err)
	}
	phc, err := openPHC(r.cfg.PHC)
	if err != nil {
		return err
	}
	r.phc = phc
	s, err := samplePHC(phc)
	if err != nil {
		return err
	}
	r.phc0 = s
	r.w.phcOffset = s.offset
	return nil
}

// enablePromisc makes the interface receive frames addressed to any MAC
// for as long as the socket is open: a membership of the socket, which
// the kernel drops when the socket closes, whatever ends the process.
func (r *Receiver) enablePromisc(fd int) error {
	mr := unix.PacketMreq{Ifindex: int32(r.cfg.Ifindex), Type: unix.PACKET_MR_PROMISC}
	if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mr); err != nil {
		return fmt.Errorf("rx: promiscuous mode on interface %d (PACKET_ADD_MEMBERSHIP): %w", r.cfg.Ifindex, err)
	}
	return nil
}

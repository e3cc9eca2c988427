package topo

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Offload features through SIOCETHTOOL's feature interface
// (ETHTOOL_GSTRINGS for the names, ETHTOOL_GFEATURES / ETHTOOL_SFEATURES
// for the bits), so no ethtool binary is needed.

// ethtool ABI values (include/uapi/linux/ethtool.h).
const (
	ethSSFeatures   = 4  // ETH_SS_FEATURES string set
	ethGStringLen   = 32 // ETH_GSTRING_LEN
	ethtoolFUnsupp  = 1  // ETHTOOL_F_UNSUPPORTED: a valid bit is not changeable
	ethtoolFWish    = 2  // ETHTOOL_F_WISH: a wanted state was not reached
	maxFeatureCount = 1024
)

// ifreqData is struct ifreq with the ifr_data member.
type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [24 - unsafe.Sizeof(uintptr(0))]byte
}

// ethtool issues one SIOCETHTOOL request on socket fd for ifname; buf
// starts with the command word. It returns the ioctl's non-negative
// result.
func ethtool(fd int, ifname string, buf []byte) (int, error) {
	var ifr ifreqData
	if len(ifname) >= len(ifr.name) {
		return 0, fmt.Errorf("interface name %q longer than %d bytes", ifname, len(ifr.name)-1)
	}
	copy(ifr.name[:], ifname)
	ifr.data = unsafe.Pointer(&buf[0])
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	runtime.KeepAlive(&ifr)
	runtime.KeepAlive(buf)
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

// Native-endian 32-bit words in an ethtool buffer.
func get32(b []byte, off int) uint32 { return *(*uint32)(unsafe.Pointer(&b[off])) }
func put32(b []byte, off int, v uint32) {
	*(*uint32)(unsafe.Pointer(&b[off])) = v
}

// featureSet is the feature state of one interface.
type featureSet struct {
	names                        []string
	available, requested, active []uint32 // one bit per name, 32 per word
	neverChanged                 []uint32
}

func (fs *featureSet) bit(words []uint32, i int) bool { return words[i/32]&(1<<(i%32)) != 0 }

// readFeatures reads ifname's feature names and states through socket fd.
func readFeatures(fd int, ifname string) (*featureSet, error) {
	// ETHTOOL_GSSET_INFO: u32 cmd, u32 reserved, u64 sset_mask, u32 data[].
	info := make([]byte, 20)
	put32(info, 0, unix.ETHTOOL_GSSET_INFO)
	*(*uint64)(unsafe.Pointer(&info[8])) = 1 << ethSSFeatures
	if _, err := ethtool(fd, ifname, info); err != nil {
		return nil, fmt.Errorf("ETHTOOL_GSSET_INFO on %s: %w", ifname, err)
	}
	if *(*uint64)(unsafe.Pointer(&info[8])) == 0 {
		return nil, fmt.Errorf("%s reports no feature string set", ifname)
	}
	n := int(get32(info, 16))
	if n <= 0 || n > maxFeatureCount {
		return nil, fmt.Errorf("%s reports %d features (expected 1..%d)", ifname, n, maxFeatureCount)
	}
	// ETHTOOL_GSTRINGS: u32 cmd, u32 string_set, u32 len, u8 data[len*32].
	strs := make([]byte, 12+n*ethGStringLen)
	put32(strs, 0, unix.ETHTOOL_GSTRINGS)
	put32(strs, 4, ethSSFeatures)
	put32(strs, 8, uint32(n))
	if _, err := ethtool(fd, ifname, strs); err != nil {
		return nil, fmt.Errorf("ETHTOOL_GSTRINGS on %s: %w", ifname, err)
	}
	fs := &featureSet{names: make([]string, n)}
	for i := range n {
		s := strs[12+i*ethGStringLen : 12+(i+1)*ethGStringLen]
		if j := slices.Index(s, 0); j >= 0 {
			s = s[:j]
		}
		fs.names[i] = string(s)
	}
	// ETHTOOL_GFEATURES: u32 cmd, u32 size, then size blocks of
	// {available, requested, active, never_changed}.
	words := (n + 31) / 32
	gf := make([]byte, 8+words*16)
	put32(gf, 0, unix.ETHTOOL_GFEATURES)
	put32(gf, 4, uint32(words))
	if _, err := ethtool(fd, ifname, gf); err != nil {
		return nil, fmt.Errorf("ETHTOOL_GFEATURES on %s: %w", ifname, err)
	}
	for w := range words {
		off := 8 + w*16
		fs.available = append(fs.available, get32(gf, off))
		fs.requested = append(fs.requested, get32(gf, off+4))
		fs.active = append(fs.active, get32(gf, off+8))
		fs.neverChanged = append(fs.neverChanged, get32(gf, off+12))
	}
	return fs, nil
}

// isFrameOffload reports whether feature name (a kernel feature string)
// can make a frame arrive other than as it was sent: merged, split, or
// with a checksum left for the "hardware" to fill in.
func isFrameOffload(name string) bool {
	switch name {
	case "tx-scatter-gather", "tx-scatter-gather-fraglist", "rx-checksum", "rx-lro", "rx-udp-gro-forwarding":
		return true
	}
	return strings.HasPrefix(name, "tx-checksum-") ||
		(strings.HasPrefix(name, "tx-") && strings.HasSuffix(name, "-segmentation")) ||
		strings.HasPrefix(name, "tx-gso-") ||
		strings.HasPrefix(name, "rx-gro")
}

// disableOffloads turns off every frame-changing offload of ifname in the
// calling thread's namespace and checks that all of them are off.
func disableOffloads(ifname string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening a socket for ethtool requests: %w", err)
	}
	defer unix.Close(fd)
	fs, err := readFeatures(fd, ifname)
	if err != nil {
		return err
	}
	words := len(fs.active)
	// ETHTOOL_SFEATURES: u32 cmd, u32 size, then size blocks of {valid,
	// requested}; valid bits with requested 0 are turned off.
	sf := make([]byte, 8+words*8)
	put32(sf, 0, unix.ETHTOOL_SFEATURES)
	put32(sf, 4, uint32(words))
	changing := false
	for i, name := range fs.names {
		if isFrameOffload(name) && fs.bit(fs.available, i) {
			off := 8 + (i/32)*8
			put32(sf, off, get32(sf, off)|1<<(i%32))
			changing = true
		}
	}
	if changing {
		r, err := ethtool(fd, ifname, sf)
		if err != nil {
			return fmt.Errorf("ETHTOOL_SFEATURES on %s: %w", ifname, err)
		}
		if r&ethtoolFUnsupp != 0 {
			return fmt.Errorf("ETHTOOL_SFEATURES on %s: the kernel refused a feature it listed as changeable", ifname)
		}
	}
	after, err := readFeatures(fd, ifname)
	if err != nil {
		return err
	}
	var still []string
	for i, name := range after.names {
		if isFrameOffload(name) && after.bit(after.active, i) {
			still = append(still, name)
		}
	}
	if len(still) > 0 {
		return fmt.Errorf("offloads still on for %s after turning them off: %s", ifname, strings.Join(still, ", "))
	}
	return nil
}

// Features returns the active state of every kernel feature of ifname in
// h's namespace, by kernel feature name (e.g. "tx-scatter-gather",
// "rx-gro", "tx-tcp-segmentation"; `ethtool -k` shows some under other
// names).
func (h *Host) Features(ifname string) (map[string]bool, error) {
	var fs *featureSet
	err := h.Do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("opening a socket for ethtool requests: %w", err)
		}
		defer unix.Close(fd)
		fs, err = readFeatures(fd, ifname)
		return err
	})
	if err != nil {
		return nil, err
	}
	m := make(map[string]bool, len(fs.names))
	for i, name := range fs.names {
		if name == "" {
			continue
		}
		m[name] = fs.bit(fs.active, i)
	}
	return m, nil
}

// FrameOffloads returns the names of the features of ifname in h's
// namespace that can change frames on the way and are on; empty when
// Config.Offloads was false.
func (h *Host) FrameOffloads(ifname string) ([]string, error) {
	m, err := h.Features(ifname)
	if err != nil {
		return nil, err
	}
	var on []string
	for name, active := range m {
		if active && isFrameOffload(name) {
			on = append(on, name)
		}
	}
	slices.Sort(on)
	return on, nil
}

package frame

import "fmt"

// Reason says why a frame could not be transformed.
type Reason uint8

// The reasons, one per Stats counter.
const (
	ReasonNone        Reason = iota // transformed
	ReasonUnknownLink               // ErrUnknownLink
	ReasonNotIP                     // ErrNotIP
	ReasonTruncated                 // ErrTruncated
	ReasonOther                     // any other error: ErrMalformed, ErrNotEthernet
)

// ReasonOf maps an error from this package's per-frame functions to its
// Reason; nil is ReasonNone.
func ReasonOf(err error) Reason {
	switch err {
	case nil:
		return ReasonNone
	case ErrUnknownLink:
		return ReasonUnknownLink
	case ErrNotIP:
		return ReasonNotIP
	case ErrTruncated:
		return ReasonTruncated
	}
	return ReasonOther
}

// String names the reason as Stats.String does.
func (r Reason) String() string {
	switch r {
	case ReasonNone:
		return "transformed"
	case ReasonUnknownLink:
		return "unknown-link"
	case ReasonNotIP:
		return "not-ip"
	case ReasonTruncated:
		return "truncated"
	}
	return "other"
}

// Stats counts outcomes by reason. Every frame counts in Frames and in
// exactly one of Transformed, UnknownLink, NotIP, Truncated and Other.
// Fragments counts the transformed frames that were IP fragments, whose L4
// checksum ZeroPayload could not make whole (a part of Transformed).
type Stats struct {
	Frames, Transformed, UnknownLink, NotIP, Truncated, Fragments, Other int64
}

// Add counts one frame: err is the outcome of ZeroPayload (or another
// per-frame function) and lay the layout it returned.
func (s *Stats) Add(lay Layout, err error) {
	s.Frames++
	switch ReasonOf(err) {
	case ReasonNone:
		s.Transformed++
		if lay.Fragment {
			s.Fragments++
		}
	case ReasonUnknownLink:
		s.UnknownLink++
	case ReasonNotIP:
		s.NotIP++
	case ReasonTruncated:
		s.Truncated++
	default:
		s.Other++
	}
}

// String formats the counters on one line, for logs and reports.
func (s Stats) String() string {
	return fmt.Sprintf("frames=%d transformed=%d fragments=%d unknown-link=%d not-ip=%d truncated=%d other=%d",
		s.Frames, s.Transformed, s.Fragments, s.UnknownLink, s.NotIP, s.Truncated, s.Other)
}

// Truncate returns frame[:snap] if snap > 0 and frame is longer, else
// frame. The original length is the caller's to keep (pcap's orig_len).
func Truncate(frame []byte, snap int) []byte {
	if snap > 0 && len(frame) > snap {
		return frame[:snap]
	}
	return frame
}

// Transformer applies a chain (zero payload, rewrite, truncate) and counts
// outcomes in Stats. Zero runs ZeroPayload; a nil Rewrite rewrites
// nothing; Snap > 0 truncates. With Zero false and IP addresses to rewrite,
// frames that are not IP pass with their MACs rewritten, as in
// Rewrite.Apply. The zero value passes frames through and counts them.
type Transformer struct {
	Zero    bool
	Rewrite *Rewrite
	Snap    int
	Stats   Stats
}

// Apply transforms the frame in place and returns it, shortened if Snap
// says so. It returns false for a frame that could not be transformed: the
// caller must not send it; it is counted by reason in Stats, and the frame
// is left unchanged. Apply parses the frame once and does not allocate.
func (t *Transformer) Apply(linkType uint16, frame []byte) ([]byte, bool) {
	rw := t.Rewrite
	if rw != nil {
		if err := rw.check(linkType, frame); err != nil {
			t.Stats.Add(Layout{}, err)
			return frame, false
		}
	}
	var lay Layout
	if t.Zero || rw != nil && rw.setsIP() {
		var err error
		lay, err = Parse(linkType, frame)
		if err != nil && (t.Zero || err != ErrNotIP) {
			t.Stats.Add(lay, err)
			return frame, false
		}
		if t.Zero {
			zeroLayout(frame, &lay)
		}
		if rw != nil {
			rw.applyLayout(frame, &lay, err == nil)
		}
	} else if rw != nil {
		rw.applyMAC(frame)
	}
	if !t.Zero {
		lay.Fragment = false // only ZeroPayload leaves fragments' L4 as is
	}
	t.Stats.Add(lay, nil)
	return Truncate(frame, t.Snap), true
}

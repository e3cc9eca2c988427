package trace

import (
	"errors"
	"io"
	"sort"
	"strconv"
)

// Summary describes a whole capture file, as `labrun trace info` prints it.
type Summary struct {
	File       string         `json:"file"`
	Format     string         `json:"format"`
	ByteOrder  string         `json:"byte_order"`
	Version    string         `json:"version"`
	Resolution string         `json:"timestamp_resolution"` // "ns", "us", or "mixed"
	LinkTypes  map[uint16]int `json:"link_types"`           // link type -> packets
	Packets    int            `json:"packets"`
	Bytes      int64          `json:"bytes_captured"`
	WireBytes  int64          `json:"bytes_on_wire"`
	First      int64          `json:"first_ns"` // ns since the epoch
	Last       int64          `json:"last_ns"`
	Duration   int64          `json:"duration_ns"` // Last - First
	RatePPS    float64        `json:"mean_rate_pps"`
	RateBPS    float64        `json:"mean_rate_bps"` // captured bytes x 8 / duration
	Sections   int            `json:"sections,omitempty"`
	Interfaces int            `json:"interfaces,omitempty"`
	// Anomalies.
	Backwards      int          `json:"backwards_timestamps"` // packets earlier than the one before
	FirstBackwards int          `json:"first_backwards_packet,omitempty"`
	Truncated      int          `json:"truncated_records"` // captured length < length on the wire
	Malformed      *FormatError `json:"malformed,omitempty"`
}

// Scan reads every packet of path and summarises it. A malformed file
// returns the error; with o.Lenient the summary of the valid prefix is
// returned with Malformed set.
func Scan(path string, o ReadOptions) (*Summary, error) {
	r, err := OpenCapture(path, o)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	s := &Summary{File: path, LinkTypes: map[uint16]int{}}
	var rec Record
	prev := int64(0)
	for {
		err := r.Next(&rec)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			s.fill(r.Info())
			return s, err
		}
		if s.Packets == 0 {
			s.First = rec.TS
		} else if rec.TS < prev {
			if s.Backwards == 0 {
				s.FirstBackwards = rec.Index + 1
			}
			s.Backwards++
		}
		prev = rec.TS
		s.Last = max(s.Last, rec.TS)
		s.Packets++
		s.Bytes += int64(len(rec.Data))
		s.WireBytes += int64(rec.OrigLen)
		if len(rec.Data) < rec.OrigLen {
			s.Truncated++
		}
		s.LinkTypes[rec.LinkType]++
	}
	s.fill(r.Info())
	return s, nil
}

func (s *Summary) fill(info CaptureInfo) {
	s.Format, s.ByteOrder, s.Version = info.Format, info.ByteOrder, info.Version
	s.Sections, s.Interfaces = info.Sections, info.Interfaces
	s.Resolution = resolutionName(info.Resolution)
	if info.Lenient != nil {
		s.Malformed = info.Lenient
	}
	if s.Packets > 0 {
		s.Duration = s.Last - s.First
		if s.Duration > 0 {
			sec := float64(s.Duration) / 1e9
			s.RatePPS = float64(s.Packets-1) / sec
			s.RateBPS = float64(s.Bytes) * 8 / sec
		}
	}
}

func resolutionName(ns int64) string {
	switch ns {
	case 1:
		return "ns"
	case 1000:
		return "us"
	case 0:
		return "unknown"
	}
	return formatNs(ns)
}

func formatNs(ns int64) string {
	units := []struct {
		n    int64
		name string
	}{{1e9, "s"}, {1e6, "ms"}, {1e3, "us"}, {1, "ns"}}
	for _, u := range units {
		if ns%u.n == 0 {
			return strconv.FormatInt(ns/u.n, 10) + u.name
		}
	}
	return strconv.FormatInt(ns, 10) + "ns"
}

// SortedLinkTypes lists the link types of a summary in ascending order.
func (s *Summary) SortedLinkTypes() []uint16 {
	var lt []uint16
	for k := range s.LinkTypes {
		lt = append(lt, k)
	}
	sort.Slice(lt, func(i, j int) bool { return lt[i] < lt[j] })
	return lt
}

// LinkTypeName names common pcap link types as libpcap does.
func LinkTypeName(lt uint16) string {
	switch lt {
	case 0:
		return "NULL"
	case 1:
		return "EN10MB"
	case 101:
		return "RAW"
	case 108:
		return "LOOP"
	case 113:
		return "LINUX_SLL"
	case 228:
		return "IPV4"
	case 229:
		return "IPV6"
	case 276:
		return "LINUX_SLL2"
	}
	return "LINKTYPE_" + strconv.FormatInt(int64(lt), 10)
}

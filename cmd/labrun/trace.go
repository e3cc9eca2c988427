package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/labrun/labrun/engine/frame"
	"github.com/labrun/labrun/engine/trace"
	"github.com/labrun/labrun/engine/units"
	"github.com/labrun/labrun/results"
)

// cmdTrace dispatches `labrun trace info|convert|gen`.
func cmdTrace(e *env, args []string) int {
	subs := map[string]func(*env, []string) int{"info": traceInfo, "convert": traceConvert, "gen": traceGen}
	if len(args) == 0 || subs[args[0]] == nil {
		fmt.Fprintln(e.stderr, "usage: labrun trace info FILE... [--json] [--lenient] | labrun trace convert IN OUT [--zero-payload] [--rewrite k=v,...] [--snaplen N] | labrun trace gen OUT --count N --interval D [--frame S]")
		return ExitUsage
	}
	return subs[args[0]](e, args[1:])
}

// readerFlags declares --reader, --window and --lenient; the function it
// returns checks them once parsed.
func readerFlags(fs *flag.FlagSet) func() (trace.ReadOptions, error) {
	reader := fs.String("reader", "mmap", "reader: mmap (double-buffered windows) or buffered (fread-style)")
	window := fs.String("window", "32MiB", "mmap window size")
	lenient := fs.Bool("lenient", false, "on a malformed record, keep the valid prefix and say how much was dropped")
	return func() (trace.ReadOptions, error) {
		w, err := units.ParseSize(*window)
		if err != nil {
			return trace.ReadOptions{}, fmt.Errorf("--window: %w", err)
		}
		if *reader != "mmap" && *reader != "buffered" {
			return trace.ReadOptions{}, fmt.Errorf("--reader %q: accepted: mmap, buffered", *reader)
		}
		return trace.ReadOptions{Reader: *reader, Window: int64(w), Lenient: *lenient}, nil
	}
}

// traceInfo prints what a capture holds, one block (or JSON object) per file.
func traceInfo(e *env, args []string) int {
	fs := newFlags(e, "trace info", "FILE... [--json] [--lenient] [--reader mmap|buffered]")
	asJSON := fs.Bool("json", false, "print a JSON array, one object per file")
	opts := readerFlags(fs)
	files, err := parse(fs, args)
	if err != nil {
		return ExitUsage
	}
	if len(files) == 0 {
		fs.Usage()
		return ExitUsage
	}
	o, err := opts()
	if err != nil {
		fmt.Fprintf(e.stderr, "labrun: %v\n", err)
		return ExitUsage
	}
	lenient := &o.Lenient
	code := ExitOK
	var all []*trace.Summary
	for _, f := range files {
		s, err := trace.Scan(f, o)
		if err != nil {
			fmt.Fprintf(e.stderr, "%v\n", err)
			code = ExitRunFailed
			if s == nil || !*lenient {
				continue
			}
		}
		all = append(all, s)
		if !*asJSON {
			writeSummary(e.stdout, s)
		}
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if all == nil {
			all = []*trace.Summary{}
		}
		enc.Encode(all)
	}
	return code
}

func writeSummary(w io.Writer, s *trace.Summary) {
	var lts []string
	for _, lt := range s.SortedLinkTypes() {
		lts = append(lts, fmt.Sprintf("%s (%d): %d packets", trace.LinkTypeName(lt), lt, s.LinkTypes[lt]))
	}
	ts := func(ns int64) string { return time.Unix(0, ns).UTC().Format("2006-01-02 15:04:05.000000000 UTC") }
	fmt.Fprintf(w, "%s\n", s.File)
	fmt.Fprintf(w, "  format:               %s %s, %s-endian\n", s.Format, s.Version, s.ByteOrder)
	if s.Sections > 0 {
		fmt.Fprintf(w, "  sections, interfaces: %d, %d\n", s.Sections, s.Interfaces)
	}
	fmt.Fprintf(w, "  link types:           %s\n", strings.Join(lts, "; "))
	fmt.Fprintf(w, "  packets:              %d\n", s.Packets)
	fmt.Fprintf(w, "  bytes:                %d captured, %d on the wire\n", s.Bytes, s.WireBytes)
	if s.Packets > 0 {
		fmt.Fprintf(w, "  first packet:         %s\n", ts(s.First))
		fmt.Fprintf(w, "  last packet:          %s\n", ts(s.Last))
		fmt.Fprintf(w, "  duration:             %s s\n", strconv.FormatFloat(float64(s.Duration)/1e9, 'f', 9, 64))
		fmt.Fprintf(w, "  mean rate:            %s pps, %s bps (captured bytes)\n", results.FormatValue(s.RatePPS), results.FormatValue(s.RateBPS))
	}
	fmt.Fprintf(w, "  timestamp resolution: %s\n", s.Resolution)
	fmt.Fprintf(w, "  anomalies:            %d backwards timestamps", s.Backwards)
	if s.Backwards > 0 {
		fmt.Fprintf(w, " (first at packet %d; replay keeps the order and clamps the gap to 0)", s.FirstBackwards)
	}
	fmt.Fprintf(w, ", %d truncated records (captured < on the wire)\n", s.Truncated)
	if s.Malformed != nil {
		fmt.Fprintf(w, "  malformed:            %v (the valid prefix is summarised)\n", s.Malformed)
	}
}

// traceConvert copies a capture to pcap or pcapng, optionally zeroing
// payloads (checksums recomputed), rewriting addresses and truncating.
func traceConvert(e *env, args []string) int {
	fs := newFlags(e, "trace convert", "IN OUT [--zero-payload] [--rewrite dst-mac=..,src-ip=..] [--snaplen N] [--format pcap|pcapng]")
	zero := fs.Bool("zero-payload", false, "replace payloads by zeros of the same length; IPv4, UDP, TCP and ICMP checksums recomputed")
	rewrite := fs.String("rewrite", "", "set addresses: src-mac=, dst-mac=, src-ip=, dst-ip= (comma-separated)")
	snap := fs.Int("snaplen", 0, "truncate stored frames to this many bytes (0: keep)")
	format := fs.String("format", "", "output format: pcap or pcapng (default: from OUT's extension, .pcapng or else pcap)")
	opts := readerFlags(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return ExitUsage
	}
	if len(pos) != 2 {
		fs.Usage()
		return ExitUsage
	}
	o, err := opts()
	if err != nil {
		fmt.Fprintf(e.stderr, "labrun: %v\n", err)
		return ExitUsage
	}
	t := &frame.Transformer{Zero: *zero, Snap: *snap}
	if *rewrite != "" {
		rw, err := frame.ParseRewrite(*rewrite)
		if err != nil {
			fmt.Fprintf(e.stderr, "labrun: --rewrite: %v\n", err)
			return ExitUsage
		}
		t.Rewrite = &rw
	}
	if *format == "" {
		*format = "pcap"
		if strings.HasSuffix(pos[1], ".pcapng") {
			*format = "pcapng"
		}
	}
	if *format != "pcap" && *format != "pcapng" {
		fmt.Fprintf(e.stderr, "labrun: --format %q: accepted: pcap, pcapng\n", *format)
		return ExitUsage
	}
	n, err := convert(pos[0], pos[1], *format, o, t)
	if err != nil {
		fmt.Fprintf(e.stderr, "%v\n", err)
		return ExitRunFailed
	}
	st := t.Stats
	fmt.Fprintf(e.stdout, "%s: %d packets written", pos[1], n)
	if *zero || t.Rewrite != nil {
		fmt.Fprint(e.stdout, convertSummary(st, *zero))
	}
	fmt.Fprintln(e.stdout)
	return ExitOK
}

// convertSummary says what convert did to the frames: the counts add up
// to the frames written, and fragments (zeroed, but with no whole
// transport header to checksum) are named as what they are.
func convertSummary(st frame.Stats, zero bool) string {
	verb := "rewritten"
	if zero {
		verb = "zeroed"
	}
	out := fmt.Sprintf("; %s %d", verb, st.Transformed)
	if st.Fragments > 0 {
		out += fmt.Sprintf(" (%d of them IP fragments: payload zeroed and IP header checksum fixed; a fragment has no whole transport header, so its transport checksum is left as captured, but for a first UDP fragment's)", st.Fragments)
	}
	return out + fmt.Sprintf(", kept unchanged %d (not IP %d, unknown link %d, truncated headers %d, other %d)",
		st.Frames-st.Transformed, st.NotIP, st.UnknownLink, st.Truncated, st.Other)
}

// convert writes IN to OUT atomically and returns the packet count. Frames
// that cannot be transformed are written unchanged and counted.
func convert(in, out, format string, o trace.ReadOptions, t *frame.Transformer) (int, error) {
	r, err := trace.OpenCapture(in, o)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	f, err := results.CreateAtomic(out)
	if err != nil {
		return 0, err
	}
	defer f.Abort()
	var pw *pcapgo.Writer
	var ng *pcapgo.NgWriter
	ifaces := map[uint16]int{}
	buf := make([]byte, 0, 1<<16)
	n := 0
	var rec trace.Record
	for {
		err := r.Next(&rec)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return n, err
		}
		data := append(buf[:0], rec.Data...)
		if tr, ok := t.Apply(rec.LinkType, data); ok {
			data = tr
		} else {
			data = append(buf[:0], rec.Data...)
		}
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(0, rec.TS), CaptureLength: len(data), Length: rec.OrigLen}
		switch format {
		case "pcap":
			if pw == nil {
				pw = pcapgo.NewWriterNanos(f)
				if err := pw.WriteFileHeader(65535, layers.LinkType(rec.LinkType)); err != nil {
					return n, err
				}
				ifaces[rec.LinkType] = 0
			}
			if _, ok := ifaces[rec.LinkType]; !ok {
				return n, fmt.Errorf("%s: packet %d has link type %d, but a pcap file holds one link type; write pcapng (--format pcapng)", in, rec.Index+1, rec.LinkType)
			}
			err = pw.WritePacket(ci, data)
		case "pcapng":
			if ng == nil {
				ng, err = pcapgo.NewNgWriterInterface(f, pcapgo.NgInterface{LinkType: layers.LinkType(rec.LinkType), SnapLength: 0, TimestampResolution: 9}, pcapgo.DefaultNgWriterOptions)
				if err != nil {
					return n, err
				}
				ifaces[rec.LinkType] = 0
			}
			id, ok := ifaces[rec.LinkType]
			if !ok {
				if id, err = ng.AddInterface(pcapgo.NgInterface{LinkType: layers.LinkType(rec.LinkType), TimestampResolution: 9}); err != nil {
					return n, err
				}
				ifaces[rec.LinkType] = id
			}
			ci.InterfaceIndex = id
			err = ng.WritePacket(ci, data)
		}
		if err != nil {
			return n, fmt.Errorf("%s: %w", out, err)
		}
		n++
	}
	if ng != nil {
		if err := ng.Flush(); err != nil {
			return n, err
		}
	}
	if n == 0 {
		return 0, fmt.Errorf("%s: no packets to write", in)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return n, err
	}
	return n, f.Commit()
}

// traceGen writes a synthetic capture: count frames at a fixed interval
// (or Poisson with --poisson), timestamps from a fixed epoch, so the same
// arguments give the same file byte for byte.
func traceGen(e *env, args []string) int {
	fs := newFlags(e, "trace gen", "OUT --count N --interval D [--frame S] [--poisson --seed N]")
	count := fs.Int("count", 0, "packets")
	interval := fs.String("interval", "", "gap between packets (mean gap with --poisson), e.g. 20us")
	frameSize := fs.String("frame", "64B", "frame size with FCS")
	poisson := fs.Bool("poisson", false, "exponential gaps")
	seed := fs.Uint64("seed", 1, "seed of the Poisson gaps")
	pos, err := parse(fs, args)
	if err != nil || len(pos) != 1 {
		fs.Usage()
		return ExitUsage
	}
	iv, err1 := units.ParseDuration(*interval)
	sz, err2 := units.ParseSize(*frameSize)
	if err := errors.Join(err1, err2); err != nil {
		fmt.Fprintf(e.stderr, "labrun: %v\n", err)
		return ExitUsage
	}
	src, err := trace.NewSynth(trace.SynthConfig{Count: *count, Interval: int64(iv), Poisson: *poisson, Seed: *seed, FrameSize: int(sz), Endpoints: trace.DefaultEndpoints()})
	if err != nil {
		fmt.Fprintf(e.stderr, "labrun: %v\n", err)
		return ExitUsage
	}
	if err := trace.WritePcap(pos[0], src, trace.GenEpoch); err != nil {
		fmt.Fprintf(e.stderr, "labrun: %v\n", err)
		return ExitRunFailed
	}
	fmt.Fprintf(e.stdout, "%s: %d packets\n", pos[0], src.Len())
	return ExitOK
}

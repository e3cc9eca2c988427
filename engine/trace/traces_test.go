package trace

import (
	"errors"
	"path/filepath"
	"slices"
	"testing"
)

// traceCase is what testdata/captures/README.md says of a shared capture file. The first
// and last timestamps (ns since the epoch, in file order) were computed
// once with gopacket's pcapgo and agree with the table's time spans.
type traceCase struct {
	file    string
	format  string
	packets int // packets read before the end or the error
	links   []uint16
	first   int64
	last    int64
	spbs    int
	res     int64 // Info().Resolution: ns per tick of the first interface
	// A malformed file: the FormatError expected (File is the path); open
	// says it comes from OpenCapture.
	err  *FormatError
	open bool
}

var traceCases = []traceCase{
	// tcpreplay's regression trace, 179 packets over 3.257 s.
	{file: "tcpreplay-test.pcap", format: "pcap", packets: 179, links: []uint16{1}, res: 1000,
		first: 1278472579466743000, last: 1278472582723492000},
	// BSD loopback (link type 0), 24 packets over 0.234 s.
	{file: "gopacket-test_loopback.pcap", format: "pcap", packets: 24, links: []uint16{0}, res: 1000,
		first: 1357492952275121000, last: 1357492952508959000},
	// 16,384 fragments, one per ms: 16.383 s.
	{file: "suricata-defrag-af-confusion-spray-h8.pcap", format: "pcap", packets: 16384, links: []uint16{1}, res: 1000,
		first: 1777378692001000000, last: 1777378708384000000},
	// Nanosecond pcap (magic 4d3cb2a1 on disk), Linux cooked: 0.128 s.
	{file: "tcpdump-tcp-handshake-nano.pcap", format: "pcap", packets: 3, links: []uint16{113}, res: 1,
		first: 1418145369924505488, last: 1418145370052115157},
	// pcapng, if_tsresol 9, NRB and ISB blocks: 1681.1 s.
	{file: "pcap-parser-wireshark_samples-test.pcapng", format: "pcapng", packets: 5898, links: []uint16{1}, res: 1,
		first: 1506883716995391962, last: 1506885398126674489},
	// Two interfaces, ns then µs (2 + 4 packets): 347.6 s.
	{file: "zeek-pcapng-multi-interface.pcapng", format: "pcapng", packets: 6, links: []uint16{1}, res: 1,
		first: 1767663089500330493, last: 1767663437140942000},
	// Big-endian, 3 sections, 5 IDBs, 6 EPBs + 2 SPBs, custom blocks: 0.003 s.
	{file: "gopacket-be-test202.pcapng", format: "pcapng", packets: 8, links: []uint16{1, 0}, res: 1000, spbs: 2,
		first: 1340954905298858000, last: 1340954905301858000},
	// QinQ double-tagged HTTP: 0.212 s.
	{file: "zeek-http-qinq-0.pcap", format: "pcap", packets: 14, links: []uint16{1}, res: 1000,
		first: 1362692526869344000, last: 1362692527080972000},
	// 1,200 VLAN DNS packets in 0.930 s.
	{file: "suricata-datasets-06-vlan-dns.pcap", format: "pcap", packets: 1200, links: []uint16{1}, res: 1000,
		first: 1629578421171884000, last: 1629578422102170000},
	// 75 ping pairs over 74.0 s.
	{file: "suricata-icmpv4-ping.pcap", format: "pcap", packets: 150, links: []uint16{1}, res: 1000,
		first: 1512579282620491000, last: 1512579356623199000},
	// IPv6 TLS to reddit: 14.15 s.
	{file: "ndpi-reddit-ipv6.pcap", format: "pcap", packets: 1942, links: []uint16{1}, res: 1000,
		first: 1605291684451133000, last: 1605291698602574000},
	// Linux cooked v2, link type 276 (pcapgo's uint8 link type would say 20): 1543.7 s.
	{file: "zeek-linux_dlt_sll2.pcap", format: "pcap", packets: 6, links: []uint16{276}, res: 1000,
		first: 1660534249872259000, last: 1660535793578961000},
	// Malformed: the header says version 1.4; refused at open.
	{file: "libpcap-pcap-invalid-version-1.pcap", open: true,
		err: &FormatError{Offset: 0, Record: -1, Reason: "unsupported pcap version 1.4"}},
	// Malformed: an SHB option runs past the block, so the tail length is
	// payload ("0000"); refused at open.
	{file: "libpcap-shb-option-too-long.pcapng", open: true,
		err: &FormatError{Offset: 0, Record: -1, Reason: "block total length 52 at the head but 808464432 at the tail"}},
	// Malformed: record 2 has a fraction of 1e9 ns; record 1 (999,999,999)
	// is valid and read.
	{file: "tcpdump-timestamp_invalid_nano.pcap", format: "pcap", packets: 1, links: []uint16{113}, res: 1,
		first: 1418145369999999999, last: 1418145369999999999,
		err: &FormatError{Offset: 24 + 16 + 76, Record: 1, Reason: "fraction 1000000000 >= 1e9 in a nanosecond pcap"}},
}

// TestSharedTraces reads every shared capture with both readers, strictly
// and leniently, and checks counts, link types, first and last timestamps
// and the errors against testdata/captures/README.md.
func TestSharedTraces(t *testing.T) {
	needTraces(t)
	all, _ := filepath.Glob(filepath.Join(tracesDir, "*.pcap*"))
	if len(all) != len(traceCases) {
		t.Errorf("%d capture files in %s, %d in the table", len(all), tracesDir, len(traceCases))
	}
	for _, tc := range traceCases {
		path := filepath.Join(tracesDir, tc.file)
		for _, rd := range readers {
			t.Run(tc.file+"/"+rd, func(t *testing.T) {
				res := readAll(t, path, ReadOptions{Reader: rd})
				if tc.open {
					checkFormatErr(t, res.openErr, path, tc.err)
					return
				}
				if res.openErr != nil {
					t.Fatalf("open: %v", res.openErr)
				}
				if tc.err != nil {
					checkFormatErr(t, res.err, path, tc.err)
				} else if res.err != nil {
					t.Fatalf("read: %v", res.err)
				}
				checkTrace(t, tc, res)
				// Lenient: the same packets, then EOF, and the error in Info.
				lres := readAll(t, path, ReadOptions{Reader: rd, Lenient: true})
				if lres.err != nil {
					t.Fatalf("lenient read: %v", lres.err)
				}
				checkTrace(t, tc, lres)
				if tc.err != nil {
					checkFormatErr(t, lres.info.Lenient, path, tc.err)
					if want := fileSize(t, path) - tc.err.Offset; lres.info.DroppedBytes != want {
						t.Errorf("dropped %d bytes, want %d", lres.info.DroppedBytes, want)
					}
				} else if lres.info.Lenient != nil || lres.info.DroppedBytes != 0 {
					t.Errorf("lenient read of a valid file: %v, dropped %d", lres.info.Lenient, lres.info.DroppedBytes)
				}
			})
		}
	}
}

// checkTrace compares a read with its table row.
func checkTrace(t *testing.T, tc traceCase, res readResult) {
	t.Helper()
	if len(res.recs) != tc.packets {
		t.Fatalf("%d packets, want %d", len(res.recs), tc.packets)
	}
	var links []uint16
	for i, r := range res.recs {
		if r.Index != i {
			t.Fatalf("record %d has Index %d", i, r.Index)
		}
		if len(r.Data) > r.OrigLen {
			t.Fatalf("record %d: %d bytes captured of %d", i, len(r.Data), r.OrigLen)
		}
		links = addDistinct(links, r.LinkType)
	}
	if !slices.Equal(links, tc.links) {
		t.Errorf("records' link types %v, want %v", links, tc.links)
	}
	if !slices.Equal(res.info.LinkTypes, tc.links) {
		t.Errorf("Info().LinkTypes %v, want %v", res.info.LinkTypes, tc.links)
	}
	if first, last := res.recs[0].TS, res.recs[len(res.recs)-1].TS; first != tc.first || last != tc.last {
		t.Errorf("timestamps %d .. %d, want %d .. %d", first, last, tc.first, tc.last)
	}
	if res.info.Format != tc.format || res.info.Resolution != tc.res || res.info.SPBs != tc.spbs {
		t.Errorf("Info() %+v: want format %s, resolution %d, %d SPBs", res.info, tc.format, tc.res, tc.spbs)
	}
}

// checkFormatErr checks that err is the *FormatError want (for file).
func checkFormatErr(t *testing.T, err error, file string, want *FormatError) {
	t.Helper()
	var fe *FormatError
	if !errors.As(err, &fe) {
		t.Fatalf("got %v, want a *FormatError %q", err, want.Reason)
	}
	w := *want
	w.File = file
	if *fe != w {
		t.Fatalf("got %+v\nwant %+v", *fe, w)
	}
}

// TestSharedTracesDifferential reads every shared capture with both
// readers (the mmap one with its default and with a one-page window) and
// requires identical records, errors and lenient endings.
func TestSharedTracesDifferential(t *testing.T) {
	needTraces(t)
	all, _ := filepath.Glob(filepath.Join(tracesDir, "*.pcap*"))
	for _, path := range all {
		t.Run(filepath.Base(path), func(t *testing.T) {
			for _, win := range []int64{0, 4096} {
				compareReaders(t, path, win)
			}
		})
	}
}

// TestSharedTracesInfo checks what Info reports of the pcapng edge cases.
func TestSharedTracesInfo(t *testing.T) {
	needTraces(t)
	cases := []struct {
		file                 string
		order, version       string
		sections, interfaces int
		rates                []uint64
	}{
		// Big-endian, three sections resetting the numbering: 2 + 1 + 2 IDBs.
		{"gopacket-be-test202.pcapng", "big", "1.0", 3, 5, []uint64{1e6}},
		// One ns and one µs interface.
		{"zeek-pcapng-multi-interface.pcapng", "little", "1.0", 1, 2, []uint64{1e9, 1e6}},
		// A nanosecond classic pcap.
		{"tcpdump-tcp-handshake-nano.pcap", "little", "2.4", 0, 0, []uint64{1e9}},
	}
	for _, c := range cases {
		for _, rd := range readers {
			res := readAll(t, filepath.Join(tracesDir, c.file), ReadOptions{Reader: rd})
			ci := res.info
			if ci.ByteOrder != c.order || ci.Version != c.version || ci.Sections != c.sections ||
				ci.Interfaces != c.interfaces || !slices.Equal(ci.TickRates, c.rates) {
				t.Errorf("%s (%s): Info() %+v", c.file, rd, ci)
			}
		}
	}
}

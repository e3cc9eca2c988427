package tx

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/gopacket/pcapgo"

	"github.com/labrun/labrun/engine/clock"
)

// A pcapng file written by the sink must read back with gopacket's reader:
// same frames, nanosecond timestamps equal to the send times given.
func TestPcapRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.pcapng")
	frames := [][]byte{make([]byte, 60), make([]byte, 61), make([]byte, 1514)}
	for i, f := range frames {
		for j := range f {
			f[j] = byte(i + j)
		}
	}
	// A tiny buffer forces flushes in the middle of the run.
	p, err := NewPcap(path, 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	base := clock.Now()
	var at []int64
	for i := 0; i < 300; i++ {
		ts := base + int64(i)*70_001
		at = append(at, ts)
		if err := p.Send(frames[i%3], ts); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			if i != 300 {
				t.Fatalf("read %d packets, want 300: %v", i, err)
			}
			break
		}
		if string(data) != string(frames[i%3]) {
			t.Fatalf("packet %d differs", i)
		}
		if want := p.WallTime(at[i]); !ci.Timestamp.Equal(want) {
			t.Fatalf("packet %d timestamp %v, want %v", i, ci.Timestamp, want)
		}
	}
	if st := p.Stats(); st.Packets != 300 {
		t.Fatalf("stats %+v", st)
	}
}

func TestPcapSnaplen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "snap.pcapng")
	p, err := NewPcap(path, 1<<16, 40)
	if err != nil {
		t.Fatal(err)
	}
	_ = p.Send(make([]byte, 100), clock.Now())
	_ = p.Close()
	f, _ := os.Open(path)
	defer f.Close()
	r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	data, ci, err := r.ReadPacketData()
	if err != nil || len(data) != 40 || ci.Length != 100 {
		t.Fatalf("got %d bytes of %d: %v", len(data), ci.Length, err)
	}
}

func TestSendDoesNotAllocate(t *testing.T) {
	p, err := NewPcap(filepath.Join(t.TempDir(), "a.pcapng"), 1<<20, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	frame := make([]byte, 60)
	for name, s := range map[string]Sink{"null": &Null{}, "pcap": p} {
		if n := testing.AllocsPerRun(1000, func() { _ = s.Send(frame, 1) }); n != 0 {
			t.Errorf("%s sink allocates %v per packet", name, n)
		}
	}
}

func BenchmarkPcapSend64(b *testing.B) {
	p, err := NewPcap(filepath.Join(b.TempDir(), "a.pcapng"), 8<<20, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	frame := make([]byte, 60)
	b.ReportAllocs()
	for b.Loop() {
		_ = p.Send(frame, 1)
	}
}

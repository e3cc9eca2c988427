package trace

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// GenEpoch is the timestamp of the first packet of generated captures
// (2026-01-01 00:00:00 UTC), fixed so that a generated file depends only on
// its parameters.
var GenEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()

// WritePcap writes every packet of src to path as a nanosecond pcap with
// timestamps epoch + offset, through a temporary file renamed into place.
func WritePcap(path string, src Source, epoch int64) (err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	w := pcapgo.NewWriterNanos(bw)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		return err
	}
	var p Packet
	src.Rewind()
	for src.Next(&p) {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(0, epoch+p.Offset), CaptureLength: len(p.Frame), Length: len(p.Frame)}
		if err := w.WritePacket(ci, p.Frame); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	src.Rewind()
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

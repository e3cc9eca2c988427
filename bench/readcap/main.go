// Command readcap reads a capture file with labrun's capture reader and
// counts its packets, for bench/read.sh to time against tcpdump.
//
// Usage: readcap [-reader mmap|buffered] [-window BYTES] FILE
//
// It prints "packets N bytes B elapsed_ns T pkts_per_s R" on one line,
// where elapsed covers opening and reading the file, not the process.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/labrun/labrun/engine/trace"
)

func main() {
	reader := flag.String("reader", "mmap", "mmap or buffered")
	window := flag.Int64("window", 0, "mmap window in bytes (0: the default, 32 MiB)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: readcap [-reader mmap|buffered] [-window BYTES] FILE")
		os.Exit(2)
	}
	start := time.Now()
	r, err := trace.OpenCapture(flag.Arg(0), trace.ReadOptions{Reader: *reader, Window: *window})
	if err != nil {
		fmt.Fprintln(os.Stderr, "readcap:", err)
		os.Exit(1)
	}
	var rec trace.Record
	packets, bytes := 0, 0
	for {
		err := r.Next(&rec)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "readcap:", err)
			os.Exit(1)
		}
		packets++
		bytes += len(rec.Data)
	}
	el := time.Since(start)
	r.Close()
	fmt.Printf("packets %d bytes %d elapsed_ns %d pkts_per_s %.0f\n", packets, bytes, el.Nanoseconds(), float64(packets)/el.Seconds())
}

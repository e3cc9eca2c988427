// Command sysctlguard checks that the test suite leaves the machine's
// sysctls as it found them: `sysctlguard -save FILE` records the values of
// every sysctl labrun may set with --allow-system (kernel.SystemSysctlPatterns)
// and of a few dangerous ones as a canary; `sysctlguard -check FILE` reads
// them again and, if any differs, names each one and exits 1. Keys present
// only once (an interface that came or went) are not compared. It reads
// /proc/sys directly and needs nothing of labrun but the allow list.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/labrun/labrun/engine/kernel"
)

// canaries are dangerous keys no test may write.
var canaries = []string{"kernel.core_pattern", "kernel.modprobe", "kernel.core_uses_pid", "kernel.sysrq"}

const root = "/proc/sys"

func main() {
	save := flag.String("save", "", "write the current values to this file")
	check := flag.String("check", "", "compare the current values with this file; exit 1 naming every difference")
	flag.Parse()
	if (*save == "") == (*check == "") {
		fmt.Fprintln(os.Stderr, "usage: sysctlguard -save FILE | -check FILE")
		os.Exit(2)
	}
	now, err := snapshot()
	if err != nil {
		fmt.Fprintf(os.Stderr, "sysctlguard: %v\n", err)
		os.Exit(2)
	}
	if *save != "" {
		if err := write(*save, now); err != nil {
			fmt.Fprintf(os.Stderr, "sysctlguard: %v\n", err)
			os.Exit(2)
		}
		return
	}
	before, err := read(*check)
	if err != nil {
		fmt.Fprintf(os.Stderr, "sysctlguard: %v\n", err)
		os.Exit(2)
	}
	var bad []string
	for k, v := range before {
		if w, ok := now[k]; ok && w != v {
			bad = append(bad, fmt.Sprintf("  %s: %q before the tests, %q after", k, v, w))
		}
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		fmt.Fprintf(os.Stderr, "sysctlguard: the tests left %d sysctl(s) changed:\n%s\n", len(bad), strings.Join(bad, "\n"))
		os.Exit(1)
	}
	fmt.Printf("sysctlguard: %d sysctls as before the tests\n", len(before))
}

// snapshot reads every sysctl of the allow list, and the canaries.
func snapshot() (map[string]string, error) {
	patterns := kernel.SystemSysctlPatterns()
	m := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // a folder that went away or cannot be read
		}
		if d.IsDir() {
			return nil
		}
		key := strings.ReplaceAll(strings.TrimPrefix(p, root+"/"), "/", ".")
		if !slices.Contains(canaries, key) && !matchAny(patterns, key) {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil // write-only (a flush) or not readable
		}
		m[key] = strings.Join(strings.Fields(string(b)), " ")
		return nil
	})
	if len(m) == 0 && err == nil {
		err = errors.New("no sysctl readable under " + root)
	}
	return m, err
}

func matchAny(patterns []string, key string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, key); ok {
			return true
		}
	}
	return false
}

func write(file string, m map[string]string) error {
	var lines []string
	for k, v := range m {
		lines = append(lines, k+" = "+v)
	}
	slices.Sort(lines)
	return os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
}

func read(file string) (map[string]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), " = "); ok {
			m[k] = v
		}
	}
	return m, sc.Err()
}

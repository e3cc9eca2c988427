package plot

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// line is the points of one run in one group (one combination of the
// group columns' values), in file order.
type line struct {
	run   string
	group int // index into data.groups
	pts   []Point
}

// data is a parsed figure CSV.
type data struct {
	groups [][]string // distinct group-column values, in order of first appearance
	lines  []*line    // in order of first appearance
	rows   int
}

// parse reads a figure CSV, taking x and y from the named columns and
// splitting the rows by run and by the values of the group columns. A
// "run" column is optional (without one all rows are one run). Errors name
// the line of the input.
func parse(b []byte, x, y string, groups []string) (*data, error) {
	r := csv.NewReader(bytes.NewReader(b))
	r.ReuseRecord = true
	header, err := r.Read()
	if err == io.EOF {
		return nil, errors.New("line 1: empty input, want a header line")
	}
	if err != nil {
		return nil, csvError(err)
	}
	header = slices.Clone(header) // the reader reuses its record
	col := func(name string) (int, error) {
		if i := slices.Index(header, name); i >= 0 {
			return i, nil
		}
		return 0, fmt.Errorf("line 1: no column %q (header: %s)", name, strings.Join(header, ","))
	}
	xi, err := col(x)
	if err != nil {
		return nil, err
	}
	yi, err := col(y)
	if err != nil {
		return nil, err
	}
	gi := make([]int, len(groups))
	for k, g := range groups {
		if gi[k], err = col(g); err != nil {
			return nil, err
		}
	}
	ri := slices.Index(header, "run")

	d := &data{}
	groupIdx := map[string]int{}
	lineIdx := map[[2]string]*line{}
	key := make([]string, len(groups))
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, csvError(err)
		}
		ln, _ := r.FieldPos(0)
		num := func(i int) (float64, error) {
			v, err := strconv.ParseFloat(rec[i], 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return 0, fmt.Errorf("line %d: column %s: bad number %q", ln, header[i], rec[i])
			}
			return v, nil
		}
		xv, err := num(xi)
		if err != nil {
			return nil, err
		}
		yv, err := num(yi)
		if err != nil {
			return nil, err
		}
		for k, i := range gi {
			key[k] = rec[i]
		}
		gk := strings.Join(key, "\x00")
		g, ok := groupIdx[gk]
		if !ok {
			g = len(d.groups)
			groupIdx[gk] = g
			d.groups = append(d.groups, slices.Clone(key))
		}
		run := ""
		if ri >= 0 {
			run = rec[ri]
		}
		lk := [2]string{gk, run}
		l := lineIdx[lk]
		if l == nil {
			l = &line{run: strings.Clone(run), group: g}
			lineIdx[lk] = l
			d.lines = append(d.lines, l)
		}
		l.pts = append(l.pts, Point{xv, yv})
		d.rows++
	}
	return d, nil
}

// csvError rewords an encoding/csv error to start with its line.
func csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("line %d: %v", pe.Line, pe.Err)
	}
	return err
}

// sortByX sorts pts by X (stably) unless they already are.
func sortByX(pts []Point) {
	if !slices.IsSortedFunc(pts, cmpX) {
		slices.SortStableFunc(pts, cmpX)
	}
}

func cmpX(a, b Point) int {
	switch {
	case a.X < b.X:
		return -1
	case a.X > b.X:
		return 1
	}
	return 0
}

package script

import (
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/labrun/labrun/results"
	"github.com/labrun/labrun/runner/plan"
)

// The figure domain: plot data an experiment produces.
func (h *Host) figureModule() *starlarkstruct.Module {
	return newModule("figure",
		h.specBuiltin(signature{fn: "figure.series", args: []arg{
			{name: "y", kind: kEnum("err_us", "read_us", "iat_err_us", "lat_us"), def: starlark.String("err_us")},
			{name: "x", kind: kEnum("packet", "time_s"), def: starlark.String("packet")},
			{name: "facet", kind: kOneOrList(kString)},
			{name: "name", kind: kString},
			{name: "title", kind: kString},
		}}, nil),
		h.specBuiltin(signature{fn: "figure.cdf", args: []arg{
			{name: "x", kind: kEnum("err_us", "read_us", "iat_err_us", "lat_us"), def: starlark.String("err_us")},
			{name: "by", kind: kOneOrList(kString)},
			{name: "name", kind: kString},
			{name: "title", kind: kString},
			{name: "log_x", kind: kBool},
			{name: "where", kind: kindFunc(checkWhere)},
		}}, nil),
		// A metric of each run against a numeric sweep axis.
		h.specBuiltin(signature{fn: "figure.lines", positional: 3, args: []arg{
			{name: "name", kind: kString, required: true},
			{name: "x", kind: kString, required: true},
			{name: "y", kind: metricKind(), required: true},
			{name: "by", kind: kOneOrList(kString)},
			{name: "log_x", kind: kBool, def: starlark.False},
			{name: "log_y", kind: kBool, def: starlark.False},
			{name: "title", kind: kString},
			{name: "where", kind: kindFunc(checkWhere)},
		}}, nil),
		// A metric of each run as grouped bars.
		h.specBuiltin(signature{fn: "figure.bars", positional: 3, args: []arg{
			{name: "name", kind: kString, required: true},
			{name: "y", kind: metricKind(), required: true},
			{name: "groups", kind: kString, required: true},
			{name: "by", kind: kOneOrList(kString)},
			{name: "title", kind: kString},
			{name: "where", kind: kindFunc(checkWhere)},
		}}, nil),
		// Per-packet values binned, per group of runs.
		h.specBuiltin(signature{fn: "figure.histogram", positional: 1, args: []arg{
			{name: "name", kind: kString, required: true},
			{name: "x", kind: kEnum("err_us", "read_us", "iat_err_us", "lat_us"), def: starlark.String("err_us")},
			{name: "by", kind: kOneOrList(kString)},
			{name: "bins", kind: kInt(5, 1000), def: starlark.MakeInt(50)},
			{name: "log_x", kind: kBool},
			{name: "log_y", kind: kBool, def: starlark.False},
			{name: "title", kind: kString},
		}}, nil),
	)
}

// figureDecl describes a figure.* value.
func figureDecl(f *Spec) plan.FigureDecl {
	fs := results.FigureSpec{Kind: f.name(), X: str(f.Args, "x"), Y: str(f.Args, "y"), Title: str(f.Args, "title"), Name: str(f.Args, "name")}
	by := "by"
	switch f.name() {
	case "series":
		fs.Facet, by = strs(f.Args["facet"]), "facet"
	case "cdf":
		fs.Facet, by = strs(f.Args["by"]), "facet"
	case "bars":
		fs.X, fs.Facet = str(f.Args, "groups"), strs(f.Args["by"])
	default:
		fs.Facet = strs(f.Args["by"])
	}
	d := plan.FigureDecl{Pos: f.Pos.String(), Kind: f.Kind, Spec: fs, By: by, Where: whereOf(f.Args["where"])}
	if b, ok := f.Args["log_x"].(starlark.Bool); ok {
		v := bool(b)
		d.LogX = &v
	}
	b, _ := f.Args["log_y"].(starlark.Bool)
	d.LogY = bool(b)
	if n, ok := f.Args["bins"].(starlark.Int); ok {
		v, _ := n.Int64()
		d.Bins = int(v)
	}
	return d
}

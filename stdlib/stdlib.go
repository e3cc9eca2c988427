// Package stdlib embeds the Starlark modules shipped with labrun. Scripts
// load them as load("@stdlib//netvcr.star", "netvcr").
package stdlib

import "embed"

// FS holds the *.star modules.
//
//go:embed *.star
var FS embed.FS

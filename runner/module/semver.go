package module

import (
	"strconv"
	"strings"
)

// semver is a parsed vMAJOR.MINOR.PATCH[-PRERELEASE][+BUILD] tag.
type semver struct {
	num [3]uint64
	pre []string
}

// parseSemver parses a version tag; the leading v is required, as in Go
// module versions.
func parseSemver(s string) (semver, bool) {
	var v semver
	if !strings.HasPrefix(s, "v") {
		return v, false
	}
	s = s[1:]
	if i := strings.IndexByte(s, '+'); i >= 0 {
		if i == len(s)-1 {
			return v, false
		}
		s = s[:i]
	}
	core, pre, hasPre := strings.Cut(s, "-")
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return v, false
	}
	for i, p := range parts {
		if p == "" || (len(p) > 1 && p[0] == '0') {
			return v, false
		}
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return v, false
		}
		v.num[i] = n
	}
	if hasPre {
		v.pre = strings.Split(pre, ".")
		for _, id := range v.pre {
			if id == "" {
				return v, false
			}
		}
	}
	return v, true
}

// compareSemver orders two valid version tags by semver precedence: -1, 0
// or +1. A prerelease sorts before its release; build metadata is ignored.
func compareSemver(a, b string) int {
	x, _ := parseSemver(a)
	y, _ := parseSemver(b)
	for i := range x.num {
		if x.num[i] != y.num[i] {
			return cmp(x.num[i] < y.num[i])
		}
	}
	switch {
	case len(x.pre) == 0 && len(y.pre) == 0:
		return 0
	case len(x.pre) == 0:
		return 1
	case len(y.pre) == 0:
		return -1
	}
	for i := 0; i < len(x.pre) && i < len(y.pre); i++ {
		if c := comparePre(x.pre[i], y.pre[i]); c != 0 {
			return c
		}
	}
	switch {
	case len(x.pre) < len(y.pre):
		return -1
	case len(x.pre) > len(y.pre):
		return 1
	}
	return 0
}

// comparePre orders prerelease identifiers: numeric ones numerically and
// below alphanumeric ones, which compare as strings.
func comparePre(a, b string) int {
	na, ea := strconv.ParseUint(a, 10, 64)
	nb, eb := strconv.ParseUint(b, 10, 64)
	switch {
	case ea == nil && eb == nil:
		if na == nb {
			return 0
		}
		return cmp(na < nb)
	case ea == nil:
		return -1
	case eb == nil:
		return 1
	case a == b:
		return 0
	}
	return cmp(a < b)
}

func cmp(less bool) int {
	if less {
		return -1
	}
	return 1
}

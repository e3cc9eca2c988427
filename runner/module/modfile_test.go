package module

import (
	"strings"
	"testing"
)

func TestParseModFile(t *testing.T) {
	sha := strings.Repeat("ab", 20)
	for _, tc := range []struct {
		src, want string // want: "" = parses; else a part of the error
	}{
		// a module with a tag and a commit pin, comments allowed
		{"# lab A\nmodule(name = \"lab_a\")\nrequire(name = \"b\", git = \"https://h/b.git\", version = \"v1.2.0\")\nrequire(name = \"c\", git = \"/srv/c\", commit = \"" + sha + "\")\n", ""},
		// the module call is required
		{"", "labrun.mod:1:1: no module(name = ...)"},
		// syntax errors have a position
		{"module(name = \"a\"\n", "labrun.mod:2:1:"},
		// no other statements
		{"module(name = \"a\")\nx = 1\n", "labrun.mod:2:1: only module(...) and require(...)"},
		// no other functions
		{"module(name = \"a\")\nload(\"x.star\", \"y\")\n", "labrun.mod:2:1:"},
		{"module(name = \"a\")\nrequires(name = \"b\")\n", "labrun.mod:2:1: unknown function"},
		// keywords only, string literals only, no unknown keyword
		{"module(\"a\")\n", "labrun.mod:1:8: module() takes keyword arguments only"},
		{"module(name = \"a\" + \"b\")\n", "labrun.mod:1:"},
		{"module(nam = \"a\")\n", "labrun.mod:1:8: module() has no argument \"nam\""},
		// names
		{"module(name = \"Lab-A\")\n", "labrun.mod:1:15: bad module name"},
		{"module(name = \"stdlib\")\n", "bad module name"},
		// require before module, twice, itself
		{"require(name = \"b\", git = \"/b\", version = \"v1.0.0\")\nmodule(name = \"a\")\n", "labrun.mod:1:1: require(...) before module"},
		{"module(name = \"a\")\nrequire(name = \"b\", git = \"/b\", version = \"v1.0.0\")\nrequire(name = \"b\", git = \"/b\", version = \"v1.1.0\")\n", "labrun.mod:3:1: module \"b\" is required twice (first at labrun.mod:2:8)"},
		{"module(name = \"a\")\nrequire(name = \"a\", git = \"/a\", version = \"v1.0.0\")\n", "requires itself"},
		// version or commit, exactly one, well formed
		{"module(name = \"a\")\nrequire(name = \"b\", git = \"/b\")\n", "labrun.mod:2:1: require() needs exactly one of version"},
		{"module(name = \"a\")\nrequire(name = \"b\", git = \"/b\", version = \"v1.0.0\", commit = \"" + sha + "\")\n", "exactly one"},
		{"module(name = \"a\")\nrequire(name = \"b\", git = \"/b\", version = \"1.0\")\n", "labrun.mod:2:43: version \"1.0\" is not a semver tag"},
		{"module(name = \"a\")\nrequire(name = \"b\", git = \"/b\", commit = \"abc\")\n", "not a full commit hash"},
		// option-like and helper URLs are refused
		{"module(name = \"a\")\nrequire(name = \"b\", git = \"--upload-pack=touch x\", version = \"v1.0.0\")\n", "labrun.mod:2:27: git URL \"--upload-pack=touch x\" starts with '-'"},
		{"module(name = \"a\")\nrequire(name = \"b\", git = \"ext::sh -c x\", version = \"v1.0.0\")\n", "<transport>::<address>"},
	} {
		_, err := ParseModFile("labrun.mod", []byte(tc.src))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: %v", tc.src, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q: got %v, want %q", tc.src, err, tc.want)
		}
	}
}

func TestCompareSemver(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"v1.0.0", "v1.0.0", 0},
		{"v1.0.0", "v1.0.1", -1},
		{"v1.10.0", "v1.9.0", 1},      // numeric, not textual
		{"v2.0.0-rc.1", "v2.0.0", -1}, // a prerelease precedes its release
		{"v2.0.0-rc.2", "v2.0.0-rc.10", -1},
		{"v2.0.0-alpha", "v2.0.0-1", 1}, // alphanumeric above numeric
		{"v1.0.0+build.5", "v1.0.0", 0}, // build metadata ignored
	} {
		if got := compareSemver(tc.a, tc.b); got != tc.want {
			t.Errorf("compare(%s, %s) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
	for _, bad := range []string{"1.0.0", "v1.0", "v01.0.0", "v1.0.0-", "v1.0.0-a..b", "vx.y.z"} {
		if _, ok := parseSemver(bad); ok {
			t.Errorf("%s parses", bad)
		}
	}
}

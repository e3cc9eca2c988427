package module_test

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/labrun/labrun/runner/module"
)

// The script layer's side of modules: open the resolver once per
// evaluation, resolve every label but @stdlib// from the file that loads
// it, verify what it reads, and record the lock in the manifest.
func ExampleResolver() {
	dir, err := module.CacheDirFromEnv()
	if err != nil {
		fmt.Println(err)
		return
	}
	cache := module.NewCache(dir, module.OfflineFromEnv())
	res, err := module.Open("/srv/lab_a", cache) // the script's repository root
	var mfe *module.ModFileError
	switch {
	case errors.As(err, &mfe):
		fmt.Println(err) // labrun.mod:LINE:COL: ...; exit 3
		return
	case err != nil:
		fmt.Println(err) // a MissingError lists what the cache lacks; exit 1
		return
	}
	top, _ := res.Main("/srv/lab_a/exp.star")
	name := "@caliper//schedules.star" // the argument of load()
	if strings.HasPrefix(name, "@stdlib//") {
		return // served by the host, as before
	}
	loc, err := res.Resolve(top, name) // errors name the accepted forms; exit 3
	if err != nil {
		fmt.Println(err)
		return
	}
	data, err := os.ReadFile(loc.Path) // the host's own reader (readRegular)
	if err == nil {
		err = res.Verify(loc, data) // a *HashMismatchError names the module and both hashes
	}
	fmt.Println(loc.Label(), len(data), err) // Label is the name to execute the file under
	_ = res.Lock()                           // into manifest.json as "modules"
}

// Package module lets an experiment repository load Starlark files and
// data from other repositories, pinned and verified: labrun.mod declares
// the modules a repository requires (by git URL and semver tag or
// commit), minimal version selection chooses one version of each (see
// the comment in mvs.go), labrun.lock pins each chosen module to a commit
// and a tree hash, and a content-addressed, read-only cache holds their
// files. Fetching uses the git command line (as the go command does), so
// the user's git configuration and credentials apply.
//
// labrun.mod is Starlark syntax, and this package is, beside the script
// layer, the one user of go.starlark.net: it uses only its parser
// (go.starlark.net/syntax) and interprets module(...) and require(...)
// calls itself; nothing is evaluated.
//
// # Wiring into the script loader
//
// The script layer (runner/script) keeps serving @stdlib// and its own
// file reading, and hands every other label to a Resolver:
//
//	cache := module.NewCache(dir, offline)  // dir from module.CacheDirFromEnv(),
//	                                        // offline from --offline || module.OfflineFromEnv()
//	res, err := module.Open(root, cache)    // root: the script's repository root (findRoot);
//	                                        // exit 3 for *ModFileError, else 1 (MissingError says what is missing)
//	top, err := res.Main(scriptPath)        // the Location of the script
//
// In the load hook, keep a Location per loaded file (keyed by the file
// name given to starlark.ExecFileOptions, i.e. the display name), then:
//
//	if strings.HasPrefix(name, "@stdlib//") { ...as today... }
//	loc, err := res.Resolve(fromLoc, name)   // error: the script's (exit 3), it lists the accepted forms
//	data, err := readRegular(loc.Path, loc.Root)
//	err = res.Verify(loc, data)              // *HashMismatchError names module and both hashes
//	display := loc.Label()                   // "@b//lib.star" for dependencies; the main module's
//	                                         // absolute path, to shorten with displayPath as today
//
// Resolve accepts any file name: the load hook keeps refusing a load()
// argument that does not end in .star, as today. Data files named by a
// script go through the same Resolve and Verify,
// with the Location of the calling file. A relative label in a file of a
// dependency resolves inside that dependency; "//x" is the root of the
// calling file's module; "@name//x" works only for the calling module
// itself or a module its labrun.mod requires. Record res.Lock() in
// manifest.json (key "modules"): it is everything a rerun needs to fetch
// the same trees.
package module

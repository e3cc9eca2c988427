package module

import (
	"errors"
	"fmt"
	"path/filepath"
)

// lockFor reads the main module's labrun.mod and labrun.lock and checks
// that they agree.
func lockFor(root string) (*Lock, error) {
	mf, err := ReadModFile(filepath.Join(root, ModFileName))
	if err != nil {
		return nil, err
	}
	l, err := ReadLock(root)
	if err != nil {
		return nil, fmt.Errorf("%v: run labrun mod tidy", err)
	}
	if s := l.Stale(mf); s != "" {
		return nil, fmt.Errorf("%s is out of date: %s; run labrun mod tidy", filepath.Join(root, LockFileName), s)
	}
	return l.resolved(root), nil
}

// resolved is the lock with relative repository paths (written so in the
// main labrun.mod) made absolute against root.
func (l *Lock) resolved(root string) *Lock {
	c := *l
	c.Modules = append([]LockedModule(nil), l.Modules...)
	for i, m := range c.Modules {
		if isLocalPath(m.Git) && !filepath.IsAbs(m.Git) {
			c.Modules[i].Git = filepath.Join(root, m.Git)
		}
	}
	return &c
}

// Download puts the tree of every locked module into the cache, as the
// lock pins it, replacing a cached tree whose content changed.
func Download(root string, c *Cache) (*Lock, error) {
	l, err := lockFor(root)
	if err != nil {
		return nil, err
	}
	var errs []error
	var missing []string
	for _, m := range l.Modules {
		_, _, err := c.Ensure(m, true)
		var me *MissingError
		if errors.As(err, &me) {
			missing = append(missing, me.Missing...)
		} else if err != nil {
			errs = append(errs, err)
		}
	}
	if len(missing) > 0 {
		errs = append(errs, &MissingError{missing})
	}
	return l, errors.Join(errs...)
}

// VerifyAll checks that labrun.lock matches labrun.mod, that every
// cached tree still has the locked hash and, online, that every tag still
// names the locked content upstream. It reports every difference.
func VerifyAll(root string, c *Cache) error {
	l, err := lockFor(root)
	if err != nil {
		return err
	}
	var errs []error
	var missing []string
	for _, m := range l.Modules {
		_, _, err := c.Ensure(m, false)
		var me *MissingError
		if errors.As(err, &me) {
			missing = append(missing, me.Missing...)
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !c.Offline && !m.Pinned {
			errs = append(errs, c.checkTag(m))
		}
	}
	if len(missing) > 0 {
		errs = append(errs, &MissingError{missing})
	}
	return errors.Join(errs...)
}

// checkTag compares what a locked module's tag names upstream now with
// the lock.
func (c *Cache) checkTag(m LockedModule) error {
	commit, err := c.commitOf(Requirement{Name: m.Name, Git: m.Git, Version: m.Version})
	if err != nil || commit == m.Commit {
		return err
	}
	_, ts, err := c.export(m.Name, m.Git, commit)
	if err != nil {
		return err
	}
	if ts.Hash == m.Hash {
		return nil
	}
	return &HashMismatchError{m.Name, fmt.Sprintf("tag %s now names commit %s (the lock has %s), which", m.Version, commit, m.Commit), m.Hash, ts.Hash}
}

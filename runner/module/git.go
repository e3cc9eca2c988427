package module

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// FetchError is a failure to fetch or read a module's repository (the
// network, a missing tag, git itself). The command line exits 1 for it.
type FetchError struct{ Msg string }

func (e *FetchError) Error() string { return e.Msg }

// MissingError says what an offline labrun needs and the cache lacks.
type MissingError struct{ Missing []string }

func (e *MissingError) Error() string {
	return "offline (--offline or LABRUN_OFFLINE=1), and the module cache lacks:\n  " +
		strings.Join(e.Missing, "\n  ") + "\nrun labrun mod download while online to fill it"
}

// GitTimeout bounds one git command.
var GitTimeout = 10 * time.Minute

// checkGitURL refuses URLs git could read as an option, the
// <transport>::<address> form (which can run arbitrary helpers), and
// control characters.
func checkGitURL(u string) error {
	const forms = "accepted: https://host/repo.git, ssh://host/repo.git, git://host/repo.git, user@host:repo.git, file:///path/repo, /path/repo, ../repo"
	switch {
	case u == "":
		return fmt.Errorf("git = \"\" is empty; %s", forms)
	case strings.HasPrefix(u, "-"):
		return fmt.Errorf("git URL %q starts with '-' and would be read as an option; %s", u, forms)
	case strings.Contains(u, "::"):
		return fmt.Errorf("git URL %q uses the <transport>::<address> form, which is not allowed; %s", u, forms)
	case strings.ContainsFunc(u, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return fmt.Errorf("git URL %q holds a control character; %s", u, forms)
	}
	return nil
}

// isLocalPath says whether a git URL is a plain file system path.
func isLocalPath(u string) bool {
	if strings.Contains(u, "://") {
		return false
	}
	if i := strings.IndexByte(u, ':'); i > 0 && !strings.Contains(u[:i], "/") {
		return false // user@host:path, host:path
	}
	return true
}

// git runs git with an argument vector in dir, never through a shell,
// with prompts off, and returns its standard output.
func (c *Cache) git(dir string, stdout io.Writer, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), GitTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GCM_INTERACTIVE=never", "GIT_SSH_COMMAND=ssh -oBatchMode=yes")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if ctx.Err() != nil {
			msg = fmt.Sprintf("timed out after %v", GitTimeout)
		}
		if msg == "" {
			msg = err.Error()
		}
		return fmt.Errorf("git %s: %s", strings.Join(args, " "), msg)
	}
	return nil
}

func (c *Cache) gitOut(dir string, args ...string) (string, error) {
	var out bytes.Buffer
	err := c.git(dir, &out, args...)
	return strings.TrimSpace(out.String()), err
}

// repoDir is the bare repository in the cache that mirrors url.
func (c *Cache) repoDir(url string) string {
	s := sha256.Sum256([]byte(url))
	return filepath.Join(c.Dir, "vcs", hex.EncodeToString(s[:12])+".git")
}

// sync makes the cache's bare repository of url current: once per Cache
// when online; offline it must already be there.
func (c *Cache) sync(url string) (string, error) {
	dir := c.repoDir(url)
	if c.fetched[url] {
		return dir, nil
	}
	_, err := os.Stat(dir)
	if c.Offline {
		if err != nil {
			return "", &MissingError{[]string{"the git repository " + url}}
		}
		return dir, nil
	}
	if err != nil {
		if err := c.newRepo(url, dir); err != nil {
			return "", err
		}
	} else if err := c.fetch(dir, url); err != nil {
		return "", err
	}
	c.fetched[url] = true
	return dir, nil
}

// newRepo fetches url into a new bare repository beside dir and moves it
// into place only once the fetch worked.
func (c *Cache) newRepo(url, dir string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "new-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := c.git(tmp, io.Discard, "init", "--quiet", "--bare", "."); err != nil {
		return &FetchError{err.Error()}
	}
	if err := c.fetch(tmp, url); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil && !errors.Is(err, os.ErrExist) {
		if _, st := os.Stat(dir); st != nil {
			return err
		}
	}
	return nil
}

func (c *Cache) fetch(dir, url string) error {
	err := c.git(dir, io.Discard, "fetch", "--quiet", "--force", "--prune", "--no-recurse-submodules", "--", url,
		"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")
	if err != nil {
		return &FetchError{"fetching " + url + ": " + err.Error()}
	}
	return nil
}

// commitOf resolves a requirement to a commit in the cache's mirror.
func (c *Cache) commitOf(r Requirement) (string, error) {
	dir, err := c.sync(r.Git)
	if err != nil {
		return "", err
	}
	if r.Commit != "" {
		if c.git(dir, io.Discard, "cat-file", "-e", r.Commit+"^{commit}") == nil {
			return r.Commit, nil
		}
		if c.Offline {
			return "", &MissingError{[]string{fmt.Sprintf("commit %s of %s (module %s)", r.Commit, r.Git, r.Name)}}
		}
		if err := c.git(dir, io.Discard, "fetch", "--quiet", "--", r.Git, r.Commit); err != nil {
			return "", &FetchError{fmt.Sprintf("module %s: commit %s is not in %s: %v", r.Name, r.Commit, r.Git, err)}
		}
		return r.Commit, nil
	}
	out, err := c.gitOut(dir, "rev-parse", "--verify", "--quiet", "refs/tags/"+r.Version+"^{commit}")
	if err != nil || !commitRE.MatchString(out) {
		if c.Offline {
			return "", &MissingError{[]string{fmt.Sprintf("tag %s of %s (module %s)", r.Version, r.Git, r.Name)}}
		}
		return "", &FetchError{fmt.Sprintf("module %s: %s has no tag %s", r.Name, r.Git, r.Version)}
	}
	return out, nil
}

// modFileAt reads labrun.mod at a commit; nil if the module has none.
func (c *Cache) modFileAt(url, commit string) ([]byte, error) {
	dir, err := c.sync(url)
	if err != nil {
		return nil, err
	}
	if c.git(dir, io.Discard, "cat-file", "-e", commit+":"+ModFileName) != nil {
		return nil, nil
	}
	var out bytes.Buffer
	if err := c.git(dir, &out, "cat-file", "blob", commit+":"+ModFileName); err != nil {
		return nil, &FetchError{err.Error()}
	}
	return out.Bytes(), nil
}

// exportTo writes the tree of a commit into dir (which must exist) with
// git archive, accepting folders and regular files only.
func (c *Cache) exportTo(url, commit, dir string) error {
	repo, err := c.sync(url)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := c.git(repo, &buf, "archive", "--format=tar", commit); err != nil {
		return &FetchError{err.Error()}
	}
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := path.Clean(h.Name)
		if h.Typeflag == tar.TypeXGlobalHeader || name == "." {
			continue
		}
		if path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("commit %s of %s: bad path %q", commit, url, h.Name)
		}
		p := filepath.Join(dir, filepath.FromSlash(name))
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, 0o755)
		case tar.TypeReg:
			err = writeNew(p, tr, 0o644|os.FileMode(h.Mode)&0o111)
		default:
			return fmt.Errorf("commit %s of %s holds %s, which is not a regular file (a symbolic link or a submodule); a module holds folders and regular files only", commit, url, name)
		}
		if err != nil {
			return err
		}
	}
}

func writeNew(p string, r io.Reader, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

package builder

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/buildkit/frontend/dockerfile/dfgitutil"
	"github.com/moby/buildkit/util/gitutil"
	"golang.org/x/sys/unix"
)

// gitTimeout bounds the git commands of one ADD of a git URL.
const gitTimeout = 10 * time.Minute

// maxGitSize bounds what the fetch and checkout of one git source may
// write under the data root's tmp.
var maxGitSize int64 = 4 << 30

// gitOutputLimit bounds what is kept of a git command's output.
const gitOutputLimit = 64 << 10

// gitSource is an ADD source that names a git repository, parsed as
// BuildKit parses it (dfgitutil.ParseGitRef): remote#ref:subdir.
type gitSource struct {
	ref     *dfgitutil.GitRef
	display string // the remote without credentials, for messages and keys
}

// parseGitSource reports whether src is a git URL as BuildKit's ADD sees
// it (https://...git, git://, ssh://, git@host:path), and refuses the
// options Gantry does not implement by name.
func parseGitSource(src string) (*gitSource, bool, error) {
	ref, isGit, err := dfgitutil.ParseGitRef(src)
	if err != nil {
		if isGit {
			return nil, true, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("ADD failed: invalid git URL %s: %v", redactGitURL(src), err))
		}
		return nil, false, nil
	}
	if ref.IndistinguishableFromLocal {
		return nil, false, nil
	}
	switch {
	case ref.Submodules != nil && *ref.Submodules:
		return nil, true, errdefs.ErrNotImplemented.WithMessage("the submodules option of a git source is not supported")
	case ref.MTime != "" && ref.MTime != "checkout":
		return nil, true, errdefs.ErrNotImplemented.WithMessage("the mtime=" + ref.MTime + " option of a git source is not supported")
	case ref.Checksum != "" || ref.FetchByCommit:
		return nil, true, errdefs.ErrNotImplemented.WithMessage("the checksum option of a git source is not supported")
	}
	return &gitSource{ref: ref, display: redactGitURL(ref.Remote)}, true, nil
}

func isGitSource(src string) bool {
	_, isGit, _ := parseGitSource(src)
	return isGit
}

// redactGitURL is s with the user information of its URL replaced, so that
// no password or token is printed.
func redactGitURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		u.User = url.User("xxxxx")
		return u.String()
	}
	return s
}

// run runs git with no terminal prompt, no system or user config
// and no ssh config of the host; cancelling ctx kills git and what it
// started. Its output is returned with credentials taken out.
func (g *gitSource) run(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dir,
		"GIT_TERMINAL_PROMPT=0",
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_ASKPASS=/bin/false",
		"SSH_ASKPASS=/bin/false",
		"GIT_SSH_COMMAND=ssh -F /dev/null -o BatchMode=yes",
		"LC_ALL=C",
	}
	var out bytes.Buffer
	cmd.Stdout = &limitedBuffer{b: &out, n: gitOutputLimit}
	cmd.Stderr = cmd.Stdout
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: unix.SIGKILL}
	cmd.Cancel = func() error { return unix.Kill(-cmd.Process.Pid, unix.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	text := strings.TrimSpace(out.String())
	if g.ref.Remote != g.display {
		text = strings.ReplaceAll(text, g.ref.Remote, g.display)
	}
	if u, perr := url.Parse(g.ref.Remote); perr == nil && u.User != nil {
		text = strings.ReplaceAll(text, u.User.String(), "xxxxx")
	}
	if err != nil && ctx.Err() != nil {
		return text, ctx.Err()
	}
	return text, err
}

type limitedBuffer struct {
	b *bytes.Buffer
	n int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.n - l.b.Len(); room > 0 {
		if len(p) > room {
			l.b.Write(p[:room])
		} else {
			l.b.Write(p)
		}
	}
	return len(p), nil
}

// resolve asks the remote which commit the ref names (git ls-remote): the
// step's cache key input. A ref that is a full commit ID is taken as is.
// It returns the commit and the remote ref to fetch.
func (g *gitSource) resolve(ctx context.Context, dir string) (commit, fetchRef string, err error) {
	ref := g.ref.Ref
	if ref == "" {
		ref = "HEAD"
	}
	// The second pattern lists an annotated tag's commit.
	out, err := g.run(ctx, dir, "ls-remote", "--", g.ref.Remote, ref, ref+"^{}")
	if err != nil {
		return "", "", gitError(g, "resolve ref "+ref, out, err)
	}
	refs := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if id, name, ok := strings.Cut(line, "\t"); ok {
			refs[name] = id
		}
	}
	// As git resolves a short name: the ref itself, a tag (peeled to its
	// commit), a branch.
	full := []string{ref, "refs/" + ref, "refs/tags/" + ref, "refs/heads/" + ref}
	for _, name := range full {
		if id, ok := refs[name+"^{}"]; ok {
			return id, name, nil
		}
		if id, ok := refs[name]; ok {
			return id, name, nil
		}
	}
	if gitutil.IsCommitSHA(ref) {
		return ref, ref, nil
	}
	// Git's own words for a ref the remote does not have.
	out, err = g.run(ctx, dir, "fetch", "--depth=1", "--", g.ref.Remote, ref)
	if err == nil {
		out = "couldn't find remote ref " + ref
	}
	return "", "", gitError(g, "resolve ref "+ref, out, err)
}

func gitError(g *gitSource, what, out string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("ADD failed: git %s in %s: %w", what, g.display, err)
	}
	if errors.Is(err, exec.ErrNotFound) {
		return errdefs.ErrFailedPrecondition.WithMessage("ADD failed: git was not found in $PATH: an ADD of a git URL needs git installed on the daemon's host")
	}
	if out == "" {
		out = err.Error()
	}
	return errdefs.ErrUnknown.WithMessage(fmt.Sprintf("ADD failed: failed to %s in %s: %s", what, g.display, out))
}

// fetchGit resolves the git source to a commit (the key input) in a new
// directory under tmpDir (cleanup removes it) and returns the item to copy
// (the checkout, or its subdirectory). The fetch and checkout of the
// commit wait in src.prepare until the step misses the cache.
func (r *run) fetchGit(ctx context.Context, src *sourceSet, g *gitSource, keepGitDir bool) (copyItem, string, error) {
	if _, err := exec.LookPath("git"); err != nil {
		return copyItem{}, "", gitError(g, "", "", exec.ErrNotFound)
	}
	dir, err := os.MkdirTemp(r.b.cfg.TmpDir, "build-git-")
	if err != nil {
		return copyItem{}, "", err
	}
	src.cleanup = append(src.cleanup, func() { os.RemoveAll(dir) })
	rctx, cancel := context.WithTimeout(ctx, gitTimeout)
	defer cancel()
	repo := filepath.Join(dir, "repo")
	if out, err := g.run(rctx, dir, "init", "-q", repo); err != nil {
		return copyItem{}, "", gitError(g, "init", out, err)
	}
	commit, fetchRef, err := g.resolve(rctx, repo)
	if err != nil {
		return copyItem{}, "", err
	}
	rel := "repo"
	if g.ref.SubDir != "" {
		rel = path.Join(rel, g.ref.SubDir)
	}
	src.prepare = append(src.prepare, func(ctx context.Context) error {
		return g.checkout(ctx, dir, rel, commit, fetchRef, keepGitDir)
	})
	return copyItem{root: dir, rel: rel, name: g.ref.ShortName, isDir: true}, commit, nil
}

// checkout fetches the commit (shallow) into dir/repo and checks it out;
// rel, the part copied, must be a directory there.
func (g *gitSource) checkout(ctx context.Context, dir, rel, commit, fetchRef string, keepGitDir bool) error {
	ctx, cancel := context.WithTimeout(ctx, gitTimeout)
	defer cancel()
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	tooBig := errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("ADD failed: %s at %s is larger than %d bytes", g.display, commit, maxGitSize))
	go func() { // git is stopped when what it wrote passes the bound
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if dirSize(dir) > maxGitSize {
					stop(tooBig)
					return
				}
			}
		}
	}()
	err := g.checkoutBounded(ctx, dir, commit, fetchRef, keepGitDir)
	if context.Cause(ctx) == tooBig || err == nil && dirSize(dir) > maxGitSize {
		return tooBig
	}
	if err != nil {
		return err
	}
	if st, err := statInRoot(dir, rel); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return errdefs.ErrNotFound.WithMessage(fmt.Sprintf("ADD failed: %s not found in %s at %s", g.ref.SubDir, g.display, commit))
	}
	return nil
}

// dirSize is the bytes of the regular files under dir.
func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

func (g *gitSource) checkoutBounded(ctx context.Context, dir, commit, fetchRef string, keepGitDir bool) error {
	repo := filepath.Join(dir, "repo")
	out, err := g.run(ctx, repo, "fetch", "--depth=1", "--no-tags", "--", g.ref.Remote, fetchRef)
	if err != nil {
		return gitError(g, "fetch "+fetchRef, out, err)
	}
	got, err := g.run(ctx, repo, "rev-parse", "FETCH_HEAD^{commit}")
	if err != nil {
		return gitError(g, "fetch "+fetchRef, got, err)
	}
	if got != commit {
		return errdefs.ErrUnknown.WithMessage(fmt.Sprintf("ADD failed: %s moved from %s to %s while it was fetched", fetchRef, commit, got))
	}
	if out, err := g.run(ctx, repo, "-c", "advice.detachedHead=false", "checkout", "-q", commit); err != nil {
		return gitError(g, "check out "+commit, out, err)
	}
	if !keepGitDir {
		return os.RemoveAll(filepath.Join(repo, ".git"))
	}
	return nil
}

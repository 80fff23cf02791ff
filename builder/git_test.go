package builder

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/dfgitutil"
)

func TestParseGitSource(t *testing.T) {
	for _, tc := range []struct {
		src                     string
		isGit                   bool
		remote, ref, sub, short string
		display, err            string
	}{
		{src: "https://example.com/org/repo.git#v1:docs/a", isGit: true, remote: "https://example.com/org/repo.git", ref: "v1", sub: "docs/a", short: "repo", display: "https://example.com/org/repo.git"},
		{src: "git://127.0.0.1:9418/repo.git#main", isGit: true, remote: "git://127.0.0.1:9418/repo.git", ref: "main", short: "repo", display: "git://127.0.0.1:9418/repo.git"},
		{src: "git@example.com:org/repo.git", isGit: true, remote: "git@example.com:org/repo.git", short: "repo", display: "git@example.com:org/repo.git"},
		{src: "ssh://git@example.com/org/repo.git#refs/heads/x:../../etc", isGit: true, remote: "ssh://git@example.com/org/repo.git", ref: "refs/heads/x", sub: "etc", short: "repo", display: "ssh://xxxxx@example.com/org/repo.git"},
		{src: "https://user:s3cret@example.com/repo.git#main", isGit: true, remote: "https://user:s3cret@example.com/repo.git", ref: "main", short: "repo", display: "https://xxxxx@example.com/repo.git"},
		// Not git: a plain download, a context path, BuildKit's deprecated form.
		{src: "https://example.com/file.tar.gz"},
		{src: "http://example.com/repo"},
		{src: "src/dir"},
		{src: "./repo.git"},
		{src: "github.com/org/repo"},
		// Options Gantry does not implement are refused by name.
		{src: "https://example.com/repo.git?submodules=true", isGit: true, err: "submodules"},
		{src: "https://example.com/repo.git?ref=main&checksum=0123456789abcdef0123456789abcdef01234567", isGit: true, err: "checksum"},
	} {
		g, isGit, err := parseGitSource(tc.src)
		if isGit != tc.isGit {
			t.Errorf("%s: git %t, want %t", tc.src, isGit, tc.isGit)
			continue
		}
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want one naming %s", tc.src, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.src, err)
			continue
		}
		if !isGit {
			continue
		}
		if g.ref.Remote != tc.remote || g.ref.Ref != tc.ref || g.ref.SubDir != tc.sub || g.ref.ShortName != tc.short || g.display != tc.display {
			t.Errorf("%s: remote %q ref %q subdir %q name %q display %q", tc.src, g.ref.Remote, g.ref.Ref, g.ref.SubDir, g.ref.ShortName, g.display)
		}
		if strings.Contains(g.display, "s3cret") {
			t.Errorf("%s: credentials in %q", tc.src, g.display)
		}
	}
}

func TestAddGitNeedsGit(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	g, _, err := parseGitSource("https://example.com/repo.git#main")
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = (&run{}).fetchGit(context.Background(), &sourceSet{}, g, false)
	if err == nil || !strings.Contains(err.Error(), "git was not found") {
		t.Errorf("without git: %v", err)
	}
}

func TestGitOutputRedacted(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	g, _, err := parseGitSource("https://user:s3cret@127.0.0.1:1/repo.git#main")
	if err != nil {
		t.Fatal(err)
	}
	// git echoes the URL it was given; nothing of the password comes back.
	out, err := g.run(context.Background(), t.TempDir(), "ls-remote", "--", g.ref.Remote, "main")
	if err == nil || strings.Contains(out, "s3cret") || strings.Contains(gitError(g, "resolve ref main", out, err).Error(), "s3cret") {
		t.Errorf("ls-remote of an unreachable URL: %v %q", err, out)
	}
}

// TestGitCheckout checks the checkout of a resolved commit from a local
// repository: the content, no .git, a missing subdirectory, the size bound.
func TestGitCheckout(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	work := t.TempDir()
	gitIn := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@t"}, args...)...)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "HOME="+work, "GIT_CONFIG_NOSYSTEM=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	gitIn("init", "-q")
	os.WriteFile(filepath.Join(work, "big"), bytes.Repeat([]byte("0123456789abcdef"), 4096), 0o644)
	gitIn("add", "big")
	gitIn("commit", "-q", "-m", "c")
	gitIn("tag", "t1")
	try := func(sub string) error {
		dir := t.TempDir()
		g := &gitSource{ref: &dfgitutil.GitRef{Remote: work, Ref: "t1", SubDir: sub}, display: work}
		repo := filepath.Join(dir, "repo")
		if out, err := g.run(context.Background(), dir, "init", "-q", repo); err != nil {
			t.Fatalf("init: %v %s", err, out)
		}
		commit, fetchRef, err := g.resolve(context.Background(), repo)
		if err != nil {
			t.Fatal(err)
		}
		rel := path.Join("repo", sub)
		if err := g.checkout(context.Background(), dir, rel, commit, fetchRef, false); err != nil {
			return err
		}
		if _, err := os.Stat(filepath.Join(repo, ".git")); !os.IsNotExist(err) {
			t.Errorf(".git kept: %v", err)
		}
		if fi, err := os.Stat(filepath.Join(repo, "big")); err != nil || fi.Size() != 65536 {
			t.Errorf("checkout: %v", err)
		}
		return nil
	}
	if err := try(""); err != nil {
		t.Fatal(err)
	}
	if err := try("nosuch"); err == nil || !strings.Contains(err.Error(), "nosuch not found") {
		t.Errorf("missing subdirectory: %v", err)
	}
	old := maxGitSize
	maxGitSize = 1024
	defer func() { maxGitSize = old }()
	if err := try(""); err == nil || !strings.Contains(err.Error(), "is larger than 1024 bytes") {
		t.Errorf("over the size bound: %v", err)
	}
}

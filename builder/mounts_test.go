package builder

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/sys/user"
)

func TestCacheMounts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("cache directories are chowned: needs root")
	}
	ctx := context.Background()
	c, err := newCacheMounts(filepath.Join(t.TempDir(), "mounts"))
	if err != nil {
		t.Fatal(err)
	}
	u := func(v uint64) *uint64 { return &v }
	shared := &instructions.Mount{Type: instructions.MountTypeCache, Target: "/c"}
	a, relA, err := c.acquire(ctx, shared, noMap)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(a, "f"), []byte("x"), 0o644)
	b, relB, _ := c.acquire(ctx, &instructions.Mount{Type: instructions.MountTypeCache, Target: "/c/"}, noMap)
	if a != b {
		t.Errorf("the same id (the target) gave %s and %s", a, b)
	}
	other, relO, _ := c.acquire(ctx, &instructions.Mount{Type: instructions.MountTypeCache, Target: "/c", UID: u(1000), Mode: u(0o700)}, noMap)
	if other == a {
		t.Error("another owner and mode shares the cache; BuildKit keeps them apart")
	}
	if fi, err := os.Stat(other); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("cache dir mode %v (%v), want 0700", fi.Mode(), err)
	}
	private, relP, _ := c.acquire(ctx, &instructions.Mount{Type: instructions.MountTypeCache, Target: "/c", CacheSharing: instructions.MountSharingPrivate}, noMap)
	if private == a {
		t.Error("a private mount of a cache in use shares it")
	}
	relP()
	if _, err := os.Stat(private); !os.IsNotExist(err) {
		t.Errorf("the private scratch copy outlived its step (%v)", err)
	}

	locked := &instructions.Mount{Type: instructions.MountTypeCache, Target: "/l", CacheSharing: instructions.MountSharingLocked}
	_, relL, _ := c.acquire(ctx, locked, user.IdentityMapping{})
	tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, _, err := c.acquire(tctx, locked, noMap); err != context.DeadlineExceeded {
		t.Errorf("a second locked user got in (%v)", err)
	}
	relL()
	if _, rel, err := c.acquire(ctx, locked, user.IdentityMapping{}); err != nil {
		t.Errorf("after release: %v", err)
	} else {
		rel()
	}

	// Prune leaves what is in use.
	relB()
	relO()
	if _, err := c.prune(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(a, "f")); err != nil {
		t.Errorf("prune removed a cache in use: %v", err)
	}
	if _, err := os.Stat(other); !os.IsNotExist(err) {
		t.Errorf("prune kept an unused cache (%v)", err)
	}
	relA()
	if n, err := c.prune(); err != nil || n != 1 {
		t.Errorf("prune = %d, %v; want the 1 byte of f", n, err)
	}
}

// noMap is the identity mapping of a daemon without --userns-remap.
var noMap user.IdentityMapping

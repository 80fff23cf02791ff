package network

import (
	"context"
	"os"
	"testing"

	"github.com/moby/sys/user"
	"golang.org/x/sys/unix"
)

// TestSandboxUserNS: a sandbox made WithUserNS has a network namespace
// that its user namespace owns (so that a container in it may mount its
// sysfs), joins a network like any other, and leaves nothing behind.
func TestSandboxUserNS(t *testing.T) {
	m, _ := newManager(t)
	ctx := context.Background()
	idm := user.IdentityMapping{
		UIDMaps: []user.IDMap{{ID: 0, ParentID: 200000, Count: 65536}},
		GIDMaps: []user.IDMap{{ID: 0, ParentID: 200000, Count: 65536}},
	}
	sb, err := m.NewSandbox(ctx, "remapped", WithUserNS(idm))
	if err != nil {
		t.Fatal(err)
	}
	if sb.UserNSPath == "" {
		t.Fatal("no UserNSPath")
	}
	netns, err := unix.Open(sb.Path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	owner, err := unix.IoctlRetInt(netns, unix.NS_GET_USERNS)
	unix.Close(netns)
	if err != nil {
		t.Fatal(err)
	}
	var got, want unix.Stat_t
	if err := unix.Fstat(owner, &got); err != nil {
		t.Fatal(err)
	}
	unix.Close(owner)
	if err := unix.Stat(sb.UserNSPath, &want); err != nil {
		t.Fatal(err)
	}
	if got.Ino != want.Ino || got.Dev != want.Dev {
		t.Errorf("the network namespace's owner is user namespace %d, not the one at %s (%d)", got.Ino, sb.UserNSPath, want.Ino)
	}
	mustJoin(t, m, sb, DefaultNetwork, EndpointOptions{})
	if err := m.DeleteSandbox(ctx, sb.ContainerID); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{sb.Path, sb.UserNSPath} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s after DeleteSandbox: %v", p, err)
		}
	}
}

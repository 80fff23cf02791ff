package network

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// netFDs counts the descriptors of this process that reach into other
// network namespaces: namespace files, and netlink and other sockets born
// in a namespace not the process's.
type netFDs struct{ ns, netlink, sockets int }

func countNetFDs(t *testing.T) netFDs {
	t.Helper()
	var own unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &own); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var c netFDs
	for _, e := range entries {
		fd, _ := strconv.Atoi(e.Name())
		var fs unix.Statfs_t
		if unix.Fstatfs(fd, &fs) == nil && fs.Type == unix.NSFS_MAGIC {
			c.ns++ // a bind mount opens under its path: no "net:[...]" link
			continue
		}
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil || !strings.HasPrefix(target, "socket:[") {
			continue
		}
		nsfd, err := unix.IoctlRetInt(fd, unix.SIOCGSKNS)
		if err != nil {
			continue
		}
		var st unix.Stat_t
		err = unix.Fstat(nsfd, &st)
		unix.Close(nsfd)
		if err != nil || (st.Dev == own.Dev && st.Ino == own.Ino) {
			continue
		}
		if domain, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN); domain == unix.AF_NETLINK {
			c.netlink++
		} else {
			c.sockets++
		}
	}
	return c
}

// An idle sandbox holds no descriptor: not its namespace, not a netlink
// socket in it. What a sandbox on a user-defined network keeps are its DNS
// server's UDP socket and TCP listener.
func TestIdleSandboxHoldsNoDescriptor(t *testing.T) {
	m, _ := newManager(t)
	mustCreate(t, m, CreateOptions{Name: "users", Subnet: "10.72.0.0/24"})
	before := countNetFDs(t)

	created := mustSandbox(t, m, "created0123456789")
	if got, want := countNetFDs(t), (netFDs{before.ns + 1, before.netlink + 1, before.sockets}); got != want {
		t.Errorf("a sandbox not joined yet: %+v, want %+v (its creation's handle, kept for its first join)", got, want)
	}
	if err := m.DeleteSandbox(context.Background(), created.ContainerID); err != nil {
		t.Fatal(err)
	}
	if got := countNetFDs(t); got != before {
		t.Errorf("after DeleteSandbox of a sandbox never joined: %+v, want %+v", got, before)
	}

	for i := range 3 {
		mustJoin(t, m, mustSandbox(t, m, "bridged"+strconv.Itoa(i)), DefaultNetwork, EndpointOptions{Name: "b" + strconv.Itoa(i)})
		mustJoin(t, m, mustSandbox(t, m, "user"+strconv.Itoa(i)), "users", EndpointOptions{Name: "u" + strconv.Itoa(i)})
	}
	both := mustSandbox(t, m, "both")
	mustJoin(t, m, both, DefaultNetwork, EndpointOptions{Name: "both"})
	mustJoin(t, m, both, "users", EndpointOptions{Name: "both"}) // opens the namespace from its path
	if err := m.Leave(context.Background(), both, DefaultNetwork); err != nil {
		t.Fatal(err)
	}
	if got, want := countNetFDs(t), (netFDs{before.ns, before.netlink, before.sockets + 2*4}); got != want {
		t.Errorf("with 4 sandboxes on the default bridge and 4 on a user network: %+v, want %+v (2 DNS sockets each on the user network)", got, want)
	}
	if m, err := askIn(both.Path, "udp", "u1", 1); err != nil || len(answerAddrs(m)) != 1 {
		t.Errorf("u1 from a sandbox joined to the user network second: %v %v", m, err)
	}
}

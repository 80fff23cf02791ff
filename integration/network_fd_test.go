package integration

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// netFDs counts the descriptors of a process that reach into network
// namespaces other than its own: namespace files (a sandbox's, opened
// through its bind mount), netlink sockets born in another namespace, and
// other sockets born in one (an embedded DNS server's).
type netFDs struct{ ns, netlink, sockets int }

func (c netFDs) String() string {
	return fmt.Sprintf("%d namespace files, %d netlink sockets and %d other sockets in other namespaces", c.ns, c.netlink, c.sockets)
}

// countNetFDs takes a copy of each of pid's descriptors (pidfd_getfd, as
// root) to ask the kernel what it is: fstatfs tells a namespace file, and
// SIOCGSKNS the namespace a socket was born in. It also returns how many
// descriptors pid has.
func countNetFDs(t *testing.T, pid int) (netFDs, int) {
	t.Helper()
	var own unix.Stat_t
	if err := unix.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &own); err != nil {
		t.Fatal(err)
	}
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatalf("pidfd_open %d: %v", pid, err)
	}
	defer unix.Close(pidfd)
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	var c netFDs
	for _, e := range entries {
		target, _ := strconv.Atoi(e.Name())
		fd, err := unix.PidfdGetfd(pidfd, target, 0)
		if err != nil {
			continue // closed meanwhile
		}
		c.add(fd, own)
		unix.Close(fd)
	}
	return c, len(entries)
}

func (c *netFDs) add(fd int, own unix.Stat_t) {
	var fs unix.Statfs_t
	if unix.Fstatfs(fd, &fs) == nil && fs.Type == unix.NSFS_MAGIC {
		c.ns++
		return
	}
	nsfd, err := unix.IoctlRetInt(fd, unix.SIOCGSKNS)
	if err != nil {
		return // not a socket
	}
	var st unix.Stat_t
	err = unix.Fstat(nsfd, &st)
	unix.Close(nsfd)
	if err != nil || (st.Dev == own.Dev && st.Ino == own.Ino) {
		return
	}
	if domain, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN); domain == unix.AF_NETLINK {
		c.netlink++
	} else {
		c.sockets++
	}
}

// TestNetworkDescriptorsPerContainer: gantryd's descriptors do not grow
// with its running containers' networks (issue 10). A sandbox is opened
// from its path when an operation needs it and closed after: a container
// on the default bridge costs no network descriptor, one on a user-defined
// network only its embedded DNS server's UDP socket and TCP listener. The
// same holds for the containers a restarted gantryd adopts.
func TestNetworkDescriptorsPerContainer(t *testing.T) {
	e := newEnv(t)
	e.needPrivateDaemon(t)
	if e.d.isDockerd() {
		t.Skip("counts gantryd's descriptors")
	}
	const perNet = 10
	netName := name("fd-net")
	e.mustDocker(t, "network", "create", netName)
	t.Cleanup(func() { e.docker(t, "network", "rm", netName) })
	// A container on each first: what gantryd opens once (the bridges'
	// state, a netlink socket of its own) is in the baseline.
	warm := []string{
		e.mustDocker(t, "run", "-d", "busybox", "sleep", "300"),
		e.mustDocker(t, "run", "-d", "--network", netName, "busybox", "sleep", "300"),
	}
	before, total := countNetFDs(t, e.d.cmd.Process.Pid)
	ids := warm
	t.Cleanup(func() { e.docker(t, append([]string{"rm", "-f"}, ids...)...) })
	for range perNet {
		ids = append(ids,
			e.mustDocker(t, "run", "-d", "busybox", "sleep", "300"),
			e.mustDocker(t, "run", "-d", "--network", netName, "busybox", "sleep", "300"))
	}
	want := netFDs{ns: before.ns, netlink: before.netlink, sockets: before.sockets + 2*perNet}
	check := func(when string) {
		t.Helper()
		over := func(c netFDs) bool { return c.ns > want.ns || c.netlink > want.netlink || c.sockets > want.sockets }
		// Idle: nothing is in flight once the runs returned; the retries
		// only spare a goroutine still closing what it opened.
		got, n := countNetFDs(t, e.d.cmd.Process.Pid)
		for deadline := time.Now().Add(5 * time.Second); over(got) && time.Now().Before(deadline); {
			time.Sleep(100 * time.Millisecond)
			got, n = countNetFDs(t, e.d.cmd.Process.Pid)
		}
		if over(got) {
			t.Errorf("%s: gantryd holds %s; with %d fewer containers on the default bridge and as many fewer on a user network it held %s (want no more namespace files or netlink sockets, and 2 DNS sockets per container on the user network)", when, got, perNet, before)
		}
		t.Logf("%s: %s; %d descriptors in all (%d in the first gantryd before the %d containers)", when, got, n, total, 2*perNet)
	}
	check(fmt.Sprintf("%d more running containers", 2*perNet))

	e.killDaemon(t)
	e.startDaemon(t)
	if ps := e.mustDocker(t, "ps", "-q", "--no-trunc"); strings.Count(ps, "\n")+1 < len(ids) {
		t.Fatalf("gantryd adopted fewer than the %d containers:\n%s", len(ids), ps)
	}
	check("the containers adopted by a restarted gantryd")
	if r := e.docker(t, "exec", ids[len(ids)-1], "nslookup", ids[len(ids)-1][:12]); r.Code != 0 {
		t.Errorf("the embedded DNS server of an adopted container does not answer:\n%s", r)
	}
}

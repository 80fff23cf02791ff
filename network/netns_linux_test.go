package network

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// privateNS marks the test process re-executed in network and mount
// namespaces of its own: the tests create bridges, namespaces and iptables
// rules, and must never touch the host's.
const privateNS = "GANTRY_NETWORK_TEST_PRIVATE_NETNS"

func TestMain(m *testing.M) {
	if os.Geteuid() == 0 && os.Getenv(privateNS) == "" {
		os.Exit(reexecInPrivateNS())
	}
	if os.Getenv(privateNS) != "" {
		if err := setUpPrivateNS(); err != nil {
			fmt.Fprintln(os.Stderr, "network tests:", err)
			os.Exit(1)
		}
	}
	os.Exit(m.Run())
}

func reexecInPrivateNS() int {
	cmd := exec.Command("unshare", append([]string{"--net", "--mount", "--", os.Args[0]}, os.Args[1:]...)...)
	cmd.Env = append(os.Environ(), privateNS+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "network tests: re-exec under unshare:", err)
		return 1
	}
	return 0
}

// setUpPrivateNS makes the fresh namespace look like this host: lo up and
// a FORWARD policy of DROP (as dockerd leaves it).
func setUpPrivateNS() error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return err
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return err
	}
	if out, err := exec.Command("iptables", "-w", "-P", "FORWARD", "DROP").CombinedOutput(); err != nil {
		return fmt.Errorf("iptables -P FORWARD DROP: %v: %s", err, out)
	}
	return nil
}

// newManager returns a Manager on fresh directories; at the end of the test
// its sandboxes and user networks are removed (the namespace is shared by
// all the tests of the package).
func newManager(t testing.TB) (*Manager, Config) {
	if os.Getenv(privateNS) == "" {
		t.Skip("needs root: the network tests run in network and mount namespaces of their own (unshare)")
	}
	dir := t.TempDir()
	cfg := Config{Root: filepath.Join(dir, "network"), RunDir: filepath.Join(dir, "netns")}
	m := mustNew(t, cfg)
	t.Cleanup(func() { cleanUp(t, m) })
	return m, cfg
}

func mustNew(t testing.TB, cfg Config) *Manager {
	t.Helper()
	m, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m
}

func cleanUp(t testing.TB, m *Manager) {
	ctx := context.Background()
	m.mu.Lock()
	var ids []string
	for id := range m.sandboxes {
		ids = append(ids, id)
	}
	m.mu.Unlock()
	for _, id := range ids {
		if err := m.DeleteSandbox(ctx, id); err != nil {
			t.Errorf("cleanup: DeleteSandbox: %v", err)
		}
	}
	for _, n := range m.List() {
		if n.Driver == "bridge" && n.Name != DefaultNetwork {
			if err := m.Remove(ctx, n.ID); err != nil {
				t.Errorf("cleanup: Remove: %v", err)
			}
		}
	}
}

func mustSandbox(t testing.TB, m *Manager, id string) *Sandbox {
	t.Helper()
	sb, err := m.NewSandbox(context.Background(), id)
	if err != nil {
		t.Fatalf("NewSandbox(%s): %v", id, err)
	}
	return sb
}

func mustJoin(t testing.TB, m *Manager, sb *Sandbox, network string, opts EndpointOptions) *Endpoint {
	t.Helper()
	ep, err := m.Join(context.Background(), sb, network, opts)
	if err != nil {
		t.Fatalf("Join(%s, %s): %v", sb.ContainerID, network, err)
	}
	return ep
}

func mustCreate(t testing.TB, m *Manager, opts CreateOptions) *Network {
	t.Helper()
	n, err := m.Create(context.Background(), opts)
	if err != nil {
		t.Fatalf("Create(%s): %v", opts.Name, err)
	}
	return n
}

// inNS runs fn on a thread inside the namespace pinned at path.
func inNS(path string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		target, err := netns.GetFromPath(path)
		if err != nil {
			errc <- err
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			errc <- err
			return
		}
		err = fn()
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// serve listens on addr inside a namespace ("" for the test's own) and
// greets every connection with the given line.
func serve(t testing.TB, nsPath, addr, greeting string) {
	t.Helper()
	var l net.Listener
	listen := func() (err error) {
		l, err = net.Listen("tcp4", addr)
		return err
	}
	var err error
	if nsPath == "" {
		err = listen()
	} else {
		err = inNS(nsPath, listen)
	}
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			fmt.Fprintln(c, greeting)
			c.Close()
		}
	}()
}

// greeting dials addr from a namespace ("" for the test's own) and returns
// the line the server sends.
func greeting(nsPath, addr string) (string, error) {
	var line string
	dial := func() error {
		c, err := net.DialTimeout("tcp4", addr, 500*time.Millisecond)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Second))
		line, err = bufio.NewReader(c).ReadString('\n')
		return err
	}
	var err error
	if nsPath == "" {
		err = dial()
	} else {
		err = inNS(nsPath, dial)
	}
	return strings.TrimSpace(line), err
}

// echoUDP runs a UDP echo server on addr inside a namespace ("" for the
// test's own) and returns the address it is bound to.
func echoUDP(t testing.TB, nsPath, addr string) net.Addr {
	t.Helper()
	var c net.PacketConn
	listen := func() (err error) {
		c, err = net.ListenPacket("udp4", addr)
		return err
	}
	var err error
	if nsPath == "" {
		err = listen()
	} else {
		err = inNS(nsPath, listen)
	}
	if err != nil {
		t.Fatalf("listen on udp %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			c.WriteTo(buf[:n], from)
		}
	}()
	return c.LocalAddr()
}

// askUDP sends a datagram to addr and returns the answer.
func askUDP(addr, msg string) (string, error) {
	c, err := net.Dial("udp4", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		return "", err
	}
	buf := make([]byte, 512)
	n, err := c.Read(buf)
	return string(buf[:n]), err
}

func iptablesSave(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("iptables-save").Output()
	if err != nil {
		t.Fatalf("iptables-save: %v", err)
	}
	return string(out)
}

// nsLinks lists the interfaces inside a sandbox, with their addresses.
func nsLinks(t testing.TB, sb *Sandbox) map[string][]netip.Prefix {
	t.Helper()
	h, err := netns.GetFromPath(sb.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	nl, err := netlink.NewHandleAt(h)
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	links, err := nl.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]netip.Prefix{}
	for _, l := range links {
		addrs, err := nl.AddrList(l, netlink.FAMILY_V4)
		if err != nil {
			t.Fatal(err)
		}
		out[l.Attrs().Name] = nil
		for _, a := range addrs {
			p, _ := prefixOf(a.IPNet)
			out[l.Attrs().Name] = append(out[l.Attrs().Name], p)
		}
	}
	return out
}

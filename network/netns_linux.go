package network

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/gantry/gantry/internal/userns"
)

// netNS is a network namespace opened for a while: its file descriptor and
// a netlink socket created inside it (sockets stay in the namespace they
// were born in, so configuring the namespace needs no setns once it is
// open). Whoever opens one closes it: a sandbox holds none while idle.
type netNS struct {
	fd netns.NsHandle
	nl *netlink.Handle
}

// createNetNS makes a network namespace with lo up, bind-mounts it at path
// (an existing file is an error) and returns it open; the caller closes
// it. The work happens on a locked thread of its own: if that thread
// cannot return to the original namespace it is left locked, and the Go
// runtime destroys it.
func createNetNS(path string) (*netNS, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return nil, fmt.Errorf("create network namespace: %w", err)
	}
	f.Close()
	type result struct {
		ns  *netNS
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		ns, err, restored := unshareNetNS(path)
		if restored {
			runtime.UnlockOSThread()
		}
		done <- result{ns, err}
	}()
	r := <-done
	if r.err != nil {
		unix.Unmount(path, unix.MNT_DETACH)
		os.Remove(path)
		return nil, fmt.Errorf("create network namespace: %w", r.err)
	}
	return r.ns, nil
}

// unshareNetNS runs on a locked thread: it moves the thread to a new
// network namespace, pins the namespace at path, sets it up and moves the
// thread back. restored says whether the thread is back where it was.
func unshareNetNS(path string) (ns *netNS, err error, restored bool) {
	orig, err := netns.Get()
	if err != nil {
		return nil, err, true
	}
	defer orig.Close()
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return nil, fmt.Errorf("unshare: %w", err), true
	}
	defer func() {
		restored = netns.Set(orig) == nil
		if !restored && err == nil {
			ns.close()
			ns, err = nil, errors.New("return to the original network namespace failed")
		}
	}()
	self := "/proc/self/task/" + strconv.Itoa(unix.Gettid()) + "/ns/net"
	if err := unix.Mount(self, path, "none", unix.MS_BIND, ""); err != nil {
		return nil, fmt.Errorf("bind-mount %s: %w", path, err), false
	}
	ns = &netNS{fd: -1}
	if ns.fd, err = netns.GetFromPath(path); err != nil {
		return nil, err, false
	}
	if ns.nl, err = netlink.NewHandle(unix.NETLINK_ROUTE); err != nil {
		ns.close()
		return nil, err, false
	}
	lo := &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: 1, Name: "lo"}}
	if err := ns.nl.LinkSetUp(lo); err != nil {
		ns.close()
		return nil, fmt.Errorf("set lo up: %w", err), false
	}
	return ns, nil, false
}

// openNetNS opens the namespace mounted at path; the caller closes it. Its
// netlink socket (route only) is made by the calling thread, locked, in
// the namespace, which it then leaves (netlink.NewHandleAt): about 10 µs
// in all.
func openNetNS(path string) (*netNS, error) {
	ns, err := openNetNSFile(path)
	if err != nil {
		return nil, err
	}
	if ns.nl, err = netlink.NewHandleAt(ns.fd, unix.NETLINK_ROUTE); err != nil {
		ns.close()
		return nil, fmt.Errorf("open network namespace %s: %w", path, err)
	}
	return ns, nil
}

// openNetNSFile opens the namespace mounted at path without a netlink
// socket, for do; the caller closes it.
func openNetNSFile(path string) (*netNS, error) {
	fd, err := netns.GetFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("open network namespace %s: %w", path, err)
	}
	return &netNS{fd: fd}, nil
}

// isNetNS checks that path is a mounted namespace (of a sandbox a previous
// gantryd made), without keeping it open. An unmounted namespace file is
// empty and would open as a regular file.
func isNetNS(path string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return fmt.Errorf("open network namespace %s: %w", path, err)
	}
	if st.Type != unix.NSFS_MAGIC {
		return fmt.Errorf("open network namespace %s: not a namespace", path)
	}
	return nil
}

// close releases the descriptors, if ns is not nil; the namespace lives on
// while mounted.
func (ns *netNS) close() {
	if ns == nil {
		return
	}
	if ns.nl != nil {
		ns.nl.Close()
	}
	if ns.fd >= 0 {
		ns.fd.Close()
	}
}

// removeNetNS unmounts and removes a namespace file. The kernel destroys
// the namespace, and the interfaces in it, once nothing holds it. A missing
// file is not an error.
func removeNetNS(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount network namespace %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove network namespace: %w", err)
	}
	return nil
}

// link is one veth pair as configured by addLink.
type link struct {
	hostName  string
	hostIndex int
}

// linkConfig is what the container end of a veth gets.
type linkConfig struct {
	bridgeIndex int
	ifName      string
	ip          netip.Addr
	bits        int
	gateway     netip.Addr       // the default route goes through it, if valid
	mtu         int              // of both ends; 0 for the kernel's default
	mac         net.HardwareAddr // of the container's end; nil: derived from ip
}

// addLink creates a veth pair whose host end, vethXXXXXXX, is up on the
// bridge and whose other end is born inside the namespace as cfg.ifName,
// with its address, its MAC derived from the address, up, and (if
// cfg.gateway is valid) the default route; both ends get cfg.mtu if set. After an error nothing is left.
func (ns *netNS) addLink(cfg linkConfig) (link, error) {
	derived := macOf(cfg.ip)
	mac := net.HardwareAddr(derived[:])
	if cfg.mac != nil {
		mac = cfg.mac
	}
	l := link{hostName: vethPrefix + randomHex(4)[:7]}
	veth := &netlink.Veth{
		LinkAttrs:        netlink.LinkAttrs{Name: l.hostName, MasterIndex: cfg.bridgeIndex, Flags: net.FlagUp, MTU: cfg.mtu},
		PeerName:         cfg.ifName,
		PeerHardwareAddr: mac,
		PeerNamespace:    netlink.NsFd(ns.fd),
	}
	if err := netlink.LinkAdd(veth); err != nil {
		return link{}, fmt.Errorf("create veth %s: %w", l.hostName, err)
	}
	l.hostIndex = veth.Index
	index, err := ns.configure(cfg)
	if err != nil {
		deleteLink(l)
		return link{}, err
	}
	ns.waitReady(l, cfg, index)
	return l, nil
}

// waitReady waits, for up to a second, until frames pass between the
// container and the bridge. The kernel reacts to a carrier change some time
// after it (linkwatch, usually within milliseconds): until then a device
// without carrier drops what it sends (the container's eth0, and the bridge
// when this is its first port), and the bridge does not forward through the
// new port. A lost ARP request costs a second.
//
// It checks again at each link notification of the host's namespace (the
// veth's ends change state together; the bridge port's state is announced
// there), and every 2 ms in case one is missed or cannot be had.
func (ns *netNS) waitReady(l link, cfg linkConfig, containerIndex int) {
	const poll = 2 * time.Millisecond
	deadline := time.Now().Add(time.Second)
	events, err := nl.Subscribe(unix.NETLINK_ROUTE, unix.RTNLGRP_LINK)
	if err == nil {
		defer events.Close()
		if events.SetReceiveTimeout(&unix.Timeval{Usec: poll.Microseconds()}) != nil {
			events.Close()
			events = nil
		}
	} else {
		events = nil
	}
	host, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		host = &netlink.Handle{} // a socket per request
	}
	defer host.Close()
	for !ns.ready(host, l, cfg, containerIndex) && time.Now().Before(deadline) {
		if events == nil {
			time.Sleep(poll)
			continue
		}
		events.Receive() // a notification, or the timeout
	}
}

// ready reports whether both ends of the veth and the bridge have carrier
// and the bridge forwards through the port; host is a handle in the
// caller's namespace. Errors are not worth waiting for: they count as
// ready.
func (ns *netNS) ready(host *netlink.Handle, l link, cfg linkConfig, containerIndex int) bool {
	up := func(h *netlink.Handle, index int) bool {
		link, err := h.LinkByIndex(index)
		ok := err != nil || link.Attrs().OperState == netlink.OperUp
		return ok
	}
	if !up(ns.nl, containerIndex) || !up(host, l.hostIndex) {
		return false
	}
	if cfg.bridgeIndex == 0 {
		return true
	}
	state, err := bridgePortState(l.hostIndex)
	return (err != nil || state == brStateForwarding) && up(host, cfg.bridgeIndex)
}

const brStateForwarding = 3 // BR_STATE_FORWARDING

// bridgePortState reads the STP state of a bridge port from the bridge
// slave data of RTM_GETLINK, which the netlink package does not decode.
func bridgePortState(index int) (uint8, error) {
	req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(index)
	req.AddData(msg)
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK)
	if err != nil {
		return 0, err
	}
	if len(msgs) != 1 || len(msgs[0]) < unix.SizeofIfInfomsg {
		return 0, errors.New("unexpected RTM_GETLINK answer")
	}
	attr, ok := findAttr(msgs[0][unix.SizeofIfInfomsg:], unix.IFLA_LINKINFO, nl.IFLA_INFO_SLAVE_DATA, nl.IFLA_BRPORT_STATE)
	if !ok || len(attr) < 1 {
		return 0, errors.New("not a bridge port")
	}
	return attr[0], nil
}

// findAttr follows a path of nested netlink attributes.
func findAttr(b []byte, path ...int) ([]byte, bool) {
	for _, typ := range path {
		attrs, err := nl.ParseRouteAttr(b)
		if err != nil {
			return nil, false
		}
		found := false
		for _, a := range attrs {
			if int(a.Attr.Type&^unix.NLA_F_NESTED) == typ {
				b, found = a.Value, true
				break
			}
		}
		if !found {
			return nil, false
		}
	}
	return b, true
}

// configure sets up the container end of a veth; it returns its index.
func (ns *netNS) configure(cfg linkConfig) (int, error) {
	c, err := ns.nl.LinkByName(cfg.ifName)
	if err != nil {
		return 0, fmt.Errorf("find %s in the namespace: %w", cfg.ifName, err)
	}
	if err := ns.nl.AddrAdd(c, &netlink.Addr{IPNet: ipNet(cfg.ip, cfg.bits)}); err != nil {
		return 0, fmt.Errorf("add address %s to %s: %w", cfg.ip, cfg.ifName, err)
	}
	if err := ns.nl.LinkSetUp(c); err != nil {
		return 0, fmt.Errorf("set %s up: %w", cfg.ifName, err)
	}
	if !cfg.gateway.IsValid() {
		return c.Attrs().Index, nil
	}
	route := &netlink.Route{LinkIndex: c.Attrs().Index, Gw: cfg.gateway.AsSlice()}
	if err := ns.nl.RouteAdd(route); err != nil {
		return 0, fmt.Errorf("add default route via %s: %w", cfg.gateway, err)
	}
	return c.Attrs().Index, nil
}

// detachLink takes the host end of a veth off its bridge, so that no frame
// reaches an interface on its way out (the next container may have the same
// address and MAC).
func detachLink(l link) error {
	if l.hostIndex == 0 {
		return nil
	}
	err := netlink.LinkSetNoMaster(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Index: l.hostIndex, Name: l.hostName}})
	if err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("detach veth %s: %w", l.hostName, err)
	}
	return nil
}

// deleteLink removes a veth pair through its host end.
func deleteLink(l link) error {
	if l.hostIndex == 0 {
		return nil
	}
	err := netlink.LinkDel(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Index: l.hostIndex, Name: l.hostName}})
	if err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete veth %s: %w", l.hostName, err)
	}
	return nil
}

// createUserNetNS makes a network namespace with lo up that belongs to a
// new user namespace with the given mappings, bind-mounts them at path and
// userPath (existing files are an error) and returns the network namespace
// open; the caller closes it. A container in that user namespace may then
// mount the sysfs of its network namespace, which it could not for one the
// host's user namespace owns.
func createUserNetNS(path, userPath string, uids, gids []syscall.SysProcIDMap) (ns *netNS, err error) {
	for _, p := range []string{path, userPath} {
		f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
		if err != nil {
			return nil, fmt.Errorf("create network namespace: %w", err)
		}
		f.Close()
	}
	defer func() {
		if err != nil {
			removeNetNS(path)
			removeNetNS(userPath)
		}
	}()
	user, net, err := userns.Open(uids, gids, true)
	if err != nil {
		return nil, fmt.Errorf("create network namespace: %w", err)
	}
	defer user.Close()
	defer net.Close()
	for p, f := range map[string]*os.File{path: net, userPath: user} {
		if err := unix.Mount("/proc/self/fd/"+strconv.Itoa(int(f.Fd())), p, "none", unix.MS_BIND, ""); err != nil {
			return nil, fmt.Errorf("create network namespace: bind-mount %s: %w", p, err)
		}
	}
	ns = &netNS{fd: -1}
	if ns.fd, err = netns.GetFromPath(path); err != nil {
		return nil, err
	}
	if ns.nl, err = netlink.NewHandleAt(ns.fd, unix.NETLINK_ROUTE); err != nil {
		ns.close()
		return nil, err
	}
	lo := &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: 1, Name: "lo"}}
	if err := ns.nl.LinkSetUp(lo); err != nil {
		ns.close()
		return nil, fmt.Errorf("set lo up: %w", err)
	}
	return ns, nil
}

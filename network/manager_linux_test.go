package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

var (
	hex64     = regexp.MustCompile(`^[0-9a-f]{64}$`)
	equateIPs = cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})
)

func TestPredefinedNetworks(t *testing.T) {
	m, cfg := newManager(t)
	got := map[string]string{}
	for _, n := range m.List() {
		if !hex64.MatchString(n.ID) {
			t.Errorf("network %s: ID %q is not 64 hex characters", n.Name, n.ID)
		}
		got[n.Name] = n.Driver
	}
	if want := map[string]string{"bridge": "bridge", "host": "host", "none": "null"}; !cmp.Equal(got, want) {
		t.Errorf("networks (-got +want):\n%s", cmp.Diff(got, want))
	}
	bridge, err := m.Get(DefaultNetwork)
	if err != nil {
		t.Fatal(err)
	}
	// The private namespace has no routes: the first pool is free.
	if bridge.Subnet.String() != "172.18.0.0/16" || bridge.Gateway.String() != "172.18.0.1" || bridge.Bridge != "gantry0" {
		t.Errorf("default bridge = %s %s on %s, want 172.18.0.0/16 172.18.0.1 on gantry0", bridge.Subnet, bridge.Gateway, bridge.Bridge)
	}
	assertBridge(t, "gantry0", "172.18.0.1/16")

	for _, name := range []string{"bridge", "host", "none"} {
		err := m.Remove(context.Background(), name)
		if !errdefs.IsPermissionDenied(err) || err.Error() != name+" is a pre-defined network and cannot be removed" {
			t.Errorf("Remove(%s) = %v, want permission denied", name, err)
		}
	}

	again := mustNew(t, cfg)
	for _, n := range again.List() {
		if old, _ := m.Get(n.Name); old.ID != n.ID {
			t.Errorf("network %s: ID changed across New: %s, then %s", n.Name, old.ID, n.ID)
		}
	}
}

func TestBridgeIP(t *testing.T) {
	_, cfg := newManager(t)
	cfg.BridgeIP = "10.200.0.1/24"
	m := mustNew(t, cfg)
	t.Cleanup(func() { cleanUp(t, m) })
	bridge, _ := m.Get(DefaultNetwork)
	if bridge.Subnet.String() != "10.200.0.0/24" || bridge.Gateway.String() != "10.200.0.1" {
		t.Errorf("default bridge = %s %s, want 10.200.0.0/24 10.200.0.1", bridge.Subnet, bridge.Gateway)
	}
	assertBridge(t, "gantry0", "10.200.0.1/24") // the old address is gone
	if l, err := netlink.LinkByName("gantry0"); err != nil {
		t.Error(err)
	} else if mac := l.Attrs().HardwareAddr.String(); mac != "02:42:0a:c8:00:01" {
		t.Errorf("gantry0 MAC after --bip = %s, want 02:42:0a:c8:00:01, from the new gateway", mac)
	}
	sb := mustSandbox(t, m, "bip")
	if ep := mustJoin(t, m, sb, DefaultNetwork, EndpointOptions{}); ep.IP.String() != "10.200.0.2" {
		t.Errorf("endpoint IP = %s, want 10.200.0.2", ep.IP)
	}
}

func TestCreateGetRemove(t *testing.T) {
	m, cfg := newManager(t)
	ctx := context.Background()
	auto := mustCreate(t, m, CreateOptions{Name: "auto", Labels: map[string]string{"a": "b"}})
	if auto.Subnet.String() != "172.19.0.0/16" || auto.Gateway.String() != "172.19.0.1" {
		t.Errorf("auto subnet = %s gateway %s, want 172.19.0.0/16 and .1", auto.Subnet, auto.Gateway)
	}
	if auto.Bridge != "gbr-"+auto.ID[:11] || auto.Driver != "bridge" || auto.Labels["a"] != "b" {
		t.Errorf("network = %+v", auto)
	}
	assertBridge(t, auto.Bridge, "172.19.0.1/16")
	given := mustCreate(t, m, CreateOptions{Name: "given", Driver: "bridge", Subnet: "10.50.0.0/24", Gateway: "10.50.0.254", Internal: true})
	if given.Gateway.String() != "10.50.0.254" || !given.Internal {
		t.Errorf("network = %+v", given)
	}

	errs := []struct {
		name  string
		opts  CreateOptions
		check func(error) bool
		text  string
	}{
		{"duplicate name", CreateOptions{Name: "auto"}, errdefs.IsConflict, "network with name auto already exists"},
		{"predefined name", CreateOptions{Name: "host"}, errdefs.IsConflict, "network with name host already exists"},
		{"overlapping subnet", CreateOptions{Name: "x", Subnet: "10.50.0.128/25"}, errdefs.IsInvalidArgument, "Pool overlaps with other one on this address space"},
		{"overlapping the default", CreateOptions{Name: "x", Subnet: "172.18.3.0/24"}, errdefs.IsInvalidArgument, "Pool overlaps with other one on this address space"},
		{"bad subnet", CreateOptions{Name: "x", Subnet: "10.0.0.0/33"}, errdefs.IsInvalidArgument, "invalid subnet 10.0.0.0/33: invalid CIDR address"},
		{"gateway outside", CreateOptions{Name: "x", Subnet: "10.51.0.0/24", Gateway: "10.52.0.1"}, errdefs.IsInvalidArgument, "invalid gateway 10.52.0.1: not a host address of subnet 10.51.0.0/24"},
		{"driver", CreateOptions{Name: "x", Driver: "overlay"}, errdefs.IsInvalidArgument, `plugin "overlay" not found: only the bridge driver is supported`},
		{"no name", CreateOptions{}, errdefs.IsInvalidArgument, `invalid network name ""`},
		{"bridge name option", CreateOptions{Name: "x", Options: map[string]string{"com.docker.network.bridge.name": "br-x", "a": "b"}}, errdefs.IsInvalidArgument,
			"network option com.docker.network.bridge.name is not supported: of the com.docker.network options, only com.docker.network.driver.mtu is"},
		{"MTU not a number", CreateOptions{Name: "x", Options: map[string]string{"com.docker.network.driver.mtu": "big"}}, errdefs.IsInvalidArgument,
			`invalid MTU "big" in option com.docker.network.driver.mtu: want a number from 68 to 65535`},
		{"MTU too small", CreateOptions{Name: "x", Options: map[string]string{"com.docker.network.driver.mtu": "67"}}, errdefs.IsInvalidArgument,
			`invalid MTU "67" in option com.docker.network.driver.mtu: want a number from 68 to 65535`},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			_, err := m.Create(ctx, tt.opts)
			if !tt.check(err) || err.Error() != tt.text {
				t.Errorf("Create = %v, want %q", err, tt.text)
			}
		})
	}

	for _, ref := range []string{"auto", auto.ID, auto.ID[:5]} {
		if n, err := m.Get(ref); err != nil || n.ID != auto.ID {
			t.Errorf("Get(%s) = %v, %v", ref, n, err)
		}
	}
	if _, err := m.Get("nope"); !errdefs.IsNotFound(err) || err.Error() != "network nope not found" {
		t.Errorf("Get(nope) = %v", err)
	}
	if len(m.List()) != 5 {
		t.Errorf("List has %d networks, want 5", len(m.List()))
	}

	// A new Manager (gantryd restarted) finds the networks as they were.
	again := mustNew(t, cfg)
	if n, err := again.Get("given"); err != nil || !cmp.Equal(n, given, equateIPs) {
		t.Errorf("after New, Get(given) = %+v, %v; want %+v", n, err, given)
	}

	if err := again.Remove(ctx, "auto"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := netlink.LinkByName(auto.Bridge); err == nil {
		t.Errorf("bridge %s still exists after Remove", auto.Bridge)
	}
	if rules := iptablesSave(t); strings.Contains(rules, auto.Bridge) || strings.Contains(rules, "172.19.0.0/16") {
		t.Errorf("rules of the removed network remain:\n%s", rules)
	}
	if _, err := again.Get("auto"); !errdefs.IsNotFound(err) {
		t.Errorf("Get after Remove = %v, want not found", err)
	}
}

func TestMTUOption(t *testing.T) {
	m, _ := newManager(t)
	n := mustCreate(t, m, CreateOptions{Name: "small", Options: map[string]string{"com.docker.network.driver.mtu": "1400", "other": "kept"}})
	if n.Options["other"] != "kept" {
		t.Errorf("options = %v, want the other option kept", n.Options)
	}
	sb := mustSandbox(t, m, "mtu")
	mustJoin(t, m, sb, "small", EndpointOptions{})
	mustJoin(t, m, sb, DefaultNetwork, EndpointOptions{})
	mtus := map[string]int{}
	links, _ := netlink.LinkList()
	for _, l := range links {
		a := l.Attrs()
		mtus[a.Name] = a.MTU
		if br, err := netlink.LinkByIndex(a.MasterIndex); a.MasterIndex != 0 && err == nil {
			mtus["veth on "+br.Attrs().Name] = a.MTU
		}
	}
	h, _ := netns.GetFromPath(sb.Path)
	defer h.Close()
	nl, _ := netlink.NewHandleAt(h)
	defer nl.Close()
	for _, name := range []string{"eth0", "eth1"} {
		if l, err := nl.LinkByName(name); err == nil {
			mtus[name] = l.Attrs().MTU
		}
	}
	want := map[string]int{n.Bridge: 1400, "veth on " + n.Bridge: 1400, "eth0": 1400, "gantry0": 1500, "veth on gantry0": 1500, "eth1": 1500}
	for name, mtu := range want {
		if mtus[name] != mtu {
			t.Errorf("MTU of %s = %d, want %d", name, mtus[name], mtu)
		}
	}
}

func TestRemoveWithEndpoints(t *testing.T) {
	m, _ := newManager(t)
	n := mustCreate(t, m, CreateOptions{Name: "busy"})
	sb := mustSandbox(t, m, "busyc")
	mustJoin(t, m, sb, "busy", EndpointOptions{Name: "web"})
	err := m.Remove(context.Background(), "busy")
	want := "error while removing network: network busy id " + n.ID + " has active endpoints (web)"
	if !errdefs.IsConflict(err) || err.Error() != want {
		t.Errorf("Remove = %v, want %q", err, want)
	}
}

func TestJoinConfiguresTheNamespace(t *testing.T) {
	m, _ := newManager(t)
	other := mustCreate(t, m, CreateOptions{Name: "second", Subnet: "10.70.0.0/24"})
	sb := mustSandbox(t, m, "c1")
	if sb.Path != filepath.Join(m.cfg.RunDir, "c1") {
		t.Errorf("sandbox path = %s", sb.Path)
	}
	ep := mustJoin(t, m, sb, DefaultNetwork, EndpointOptions{Name: "web", Aliases: []string{"www"}})
	bridge, _ := m.Get(DefaultNetwork)
	want := Endpoint{ID: ep.ID, NetworkID: bridge.ID, NetworkName: "bridge", ContainerID: "c1", Name: "web", Aliases: []string{"www"},
		IfName: "eth0", MAC: "02:42:ac:12:00:02", IP: netip.MustParseAddr("172.18.0.2"), Prefix: 16, Gateway: netip.MustParseAddr("172.18.0.1")}
	if !hex64.MatchString(ep.ID) || !cmp.Equal(*ep, want, equateIPs) {
		t.Errorf("endpoint (-got +want):\n%s", cmp.Diff(*ep, want, equateIPs))
	}
	ep2 := mustJoin(t, m, sb, "second", EndpointOptions{Name: "web"})
	if ep2.IfName != "eth1" || ep2.IP.String() != "10.70.0.2" {
		t.Errorf("second endpoint = %s %s, want eth1 10.70.0.2", ep2.IfName, ep2.IP)
	}
	links := nsLinks(t, sb)
	wantLinks := map[string][]netip.Prefix{"lo": {netip.MustParsePrefix("127.0.0.1/8")},
		"eth0": {netip.MustParsePrefix("172.18.0.2/16")}, "eth1": {netip.MustParsePrefix("10.70.0.2/24")}}
	if !cmp.Equal(links, wantLinks, equateIPs) {
		t.Errorf("links in the sandbox (-got +want):\n%s", cmp.Diff(links, wantLinks, equateIPs))
	}
	assertDefaultRoute(t, sb, "172.18.0.1 dev eth0")
	assertHostVeths(t, bridge.Bridge, 1)
	assertHostVeths(t, other.Bridge, 1)

	if eps, err := m.Endpoints("second"); err != nil || len(eps) != 1 || eps[0].ID != ep2.ID {
		t.Errorf("Endpoints(second) = %v, %v", eps, err)
	}
	if _, err := m.Join(context.Background(), sb, "second", EndpointOptions{Name: "web"}); !errdefs.IsConflict(err) {
		t.Errorf("joining twice: %v, want conflict", err)
	}
	if err := m.Leave(context.Background(), sb, "second"); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	if _, ok := nsLinks(t, sb)["eth1"]; ok {
		t.Error("eth1 is still in the sandbox after Leave")
	}
	assertHostVeths(t, other.Bridge, 0)
	if err := m.Leave(context.Background(), sb, "second"); !errdefs.IsNotFound(err) {
		t.Errorf("Leave again: %v, want not found", err)
	}

	if err := m.DeleteSandbox(context.Background(), "c1"); err != nil {
		t.Fatalf("DeleteSandbox: %v", err)
	}
	if _, err := os.Stat(sb.Path); !os.IsNotExist(err) {
		t.Errorf("namespace file after DeleteSandbox: %v", err)
	}
	if err := m.DeleteSandbox(context.Background(), "c1"); err != nil {
		t.Errorf("DeleteSandbox of a deleted sandbox: %v", err)
	}
	if _, err := m.Sandbox("c1"); !errdefs.IsNotFound(err) {
		t.Errorf("Sandbox after DeleteSandbox: %v, want not found", err)
	}
}

func TestAddresses(t *testing.T) {
	m, cfg := newManager(t)
	ctx := context.Background()
	mustCreate(t, m, CreateOptions{Name: "tiny", Subnet: "10.60.0.0/29"}) // hosts .2 to .6 besides the gateway
	var sbs []*Sandbox
	join := func(id string, ip string) (*Endpoint, error) {
		sb := mustSandbox(t, m, id)
		sbs = append(sbs, sb)
		var want netip.Addr
		if ip != "" {
			want = netip.MustParseAddr(ip)
		}
		return m.Join(ctx, sb, "tiny", EndpointOptions{Name: id, IPv4: want})
	}
	for i, want := range []string{"10.60.0.2", "10.60.0.3", "10.60.0.4"} {
		if ep, err := join("a"+strconv.Itoa(i), ""); err != nil || ep.IP.String() != want {
			t.Fatalf("join %d = %v, %v; want %s", i, ep, err, want)
		}
	}
	if err := m.DeleteSandbox(ctx, "a1"); err != nil {
		t.Fatal(err)
	}
	if ep, err := join("b", ""); err != nil || ep.IP.String() != "10.60.0.3" {
		t.Errorf("join after a release = %v, %v; want the freed 10.60.0.3", ep, err)
	}
	if ep, err := join("c", "10.60.0.6"); err != nil || ep.IP.String() != "10.60.0.6" {
		t.Errorf("join asking 10.60.0.6 = %v, %v", ep, err)
	}
	if _, err := join("d", "10.60.0.6"); !errdefs.IsConflict(err) {
		t.Errorf("asking a taken address: %v, want conflict", err)
	}
	if _, err := join("e", "10.61.0.2"); !errdefs.IsInvalidArgument(err) {
		t.Errorf("asking an address outside the subnet: %v, want invalid argument", err)
	}
	if ep, err := join("f", ""); err != nil || ep.IP.String() != "10.60.0.5" {
		t.Errorf("join = %v, %v; want 10.60.0.5", ep, err)
	}
	if _, err := join("g", ""); !errdefs.IsUnavailable(err) {
		t.Errorf("join on a full network: %v, want unavailable", err)
	}
	if got := persistedAllocations(t, cfg, "tiny"); len(got) != 5 || got["c"].String() != "10.60.0.6" {
		t.Errorf("persisted allocations = %v", got)
	}
	if links := nsLinks(t, sbs[len(sbs)-1]); len(links) != 1 {
		t.Errorf("a failed join left links in the sandbox: %v", links)
	}

	// gantryd restarts: no container survives it, every address is free.
	again := mustNew(t, cfg)
	if got := persistedAllocations(t, cfg, "tiny"); len(got) != 0 {
		t.Errorf("allocations after New = %v, want none", got)
	}
	if ep := mustJoin(t, again, mustSandbox(t, again, "h"), "tiny", EndpointOptions{}); ep.IP.String() != "10.60.0.2" {
		t.Errorf("first join after New = %s, want 10.60.0.2", ep.IP)
	}
	t.Cleanup(func() { cleanUp(t, again) })
}

func TestConnectivityAndIsolation(t *testing.T) {
	m, _ := newManager(t)
	mustCreate(t, m, CreateOptions{Name: "front"})
	mustCreate(t, m, CreateOptions{Name: "back"})
	a, b, c, d := mustSandbox(t, m, "a"), mustSandbox(t, m, "b"), mustSandbox(t, m, "c"), mustSandbox(t, m, "d")
	epA := mustJoin(t, m, a, "front", EndpointOptions{})
	mustJoin(t, m, b, "front", EndpointOptions{})
	mustJoin(t, m, c, "back", EndpointOptions{})
	epD := mustJoin(t, m, d, DefaultNetwork, EndpointOptions{})
	serve(t, a.Path, ":80", "hello from a")
	serve(t, d.Path, ":80", "hello from d")
	serve(t, "", ":7070", "hello from the host")
	outside := newClient(t, "10.78.0.2", "10.78.0.1") // another machine
	serve(t, outside, ":7070", "hello from outside")

	tests := []struct {
		name, from, to string
		ok             bool
	}{
		{"same network", b.Path, epA.IP.String() + ":80", true},
		{"other user network", c.Path, epA.IP.String() + ":80", false},
		{"user network to default", c.Path, epD.IP.String() + ":80", false},
		{"default to user network", d.Path, epA.IP.String() + ":80", false},
		{"host to container", "", epA.IP.String() + ":80", true},
		{"container to host", d.Path, epD.Gateway.String() + ":7070", true},
		{"container to another machine", d.Path, "10.78.0.2:7070", true},
		{"user network container to another machine", a.Path, "10.78.0.2:7070", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line, err := greeting(tt.from, tt.to)
			if tt.ok && (err != nil || !strings.HasPrefix(line, "hello")) {
				t.Errorf("dial %s = %q, %v; want a greeting", tt.to, line, err)
			}
			if !tt.ok && err == nil {
				t.Errorf("dial %s = %q; want no connection", tt.to, line)
			}
		})
	}
}

func TestPublishedPorts(t *testing.T) {
	m, _ := newManager(t)
	ctx := context.Background()
	sb := mustSandbox(t, m, "web")
	serve(t, sb.Path, ":80", "hello from web")
	echoUDP(t, sb.Path, ":53")
	ep := mustJoin(t, m, sb, DefaultNetwork, EndpointOptions{Name: "web", Ports: []PortBinding{
		{Proto: "tcp", ContainerPort: 80}, {Proto: "udp", ContainerPort: 53, HostIP: netip.MustParseAddr("127.0.0.1")},
		{Proto: "udp", ContainerPort: 53}}})
	if len(ep.Ports) != 3 || ep.Ports[0].HostPort == 0 || ep.Ports[0].HostIP != netip.IPv4Unspecified() || ep.Ports[1].HostPort == 0 || ep.Ports[2].HostPort == 0 {
		t.Fatalf("ports = %+v, want three bound host ports, the first on 0.0.0.0", ep.Ports)
	}
	port, udpPort := strconv.Itoa(int(ep.Ports[0].HostPort)), strconv.Itoa(int(ep.Ports[2].HostPort))
	if got, err := askUDP(netip.AddrPortFrom(ep.Ports[1].HostIP, ep.Ports[1].HostPort).String(), "ping"); err != nil || got != "ping" {
		t.Errorf("UDP published port answered %q, %v; want the echo", got, err)
	}

	// Another machine, on a link where the host has 10.78.0.1, and a
	// container on the same bridge dialling the host (hairpin, which the
	// held port proxies).
	client := newClient(t, "10.78.0.2", "10.78.0.1")
	neighbour := mustSandbox(t, m, "neighbour")
	mustJoin(t, m, neighbour, DefaultNetwork, EndpointOptions{Name: "neighbour"})
	for _, tt := range []struct{ name, from, to string }{
		{"host on 127.0.0.1", "", "127.0.0.1:" + port},
		{"host on its address", "", "10.78.0.1:" + port},
		{"another machine", client, "10.78.0.1:" + port},
		{"container on the bridge, through the host", neighbour.Path, "10.78.0.1:" + port},
		{"container on the bridge, through its gateway", neighbour.Path, ep.Gateway.String() + ":" + port},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if line, err := greeting(tt.from, tt.to); err != nil || line != "hello from web" {
				t.Errorf("dial %s = %q, %v; want the container's greeting", tt.to, line, err)
			}
		})
	}
	// UDP: what misses the DNAT is proxied by the held socket, and the
	// answer comes from the address the client sent to.
	for _, tt := range []struct{ name, from, to string }{
		{"UDP from another machine", client, "10.78.0.1:" + udpPort},
		{"UDP from a container on the bridge, through the host", neighbour.Path, "10.78.0.1:" + udpPort},
		{"UDP from a container on the bridge, through its gateway", neighbour.Path, ep.Gateway.String() + ":" + udpPort},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			err := inNS(tt.from, func() (err error) {
				got, err = askUDP(tt.to, "ping")
				return err
			})
			if err != nil || got != "ping" {
				t.Errorf("UDP to %s answered %q, %v; want the echo", tt.to, got, err)
			}
		})
	}

	// The host port is taken, by this Manager or by another program.
	other := mustSandbox(t, m, "other")
	_, err := m.Join(ctx, other, DefaultNetwork, EndpointOptions{Name: "other", Ports: []PortBinding{{Proto: "tcp", ContainerPort: 80, HostPort: ep.Ports[0].HostPort}}})
	if !errdefs.IsConflict(err) || !strings.Contains(err.Error(), "Bind for 0.0.0.0:"+port+" failed: port is already allocated") ||
		!strings.HasPrefix(err.Error(), "driver failed programming external connectivity on endpoint other (") {
		t.Errorf("port taken by a container: %v", err)
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy := l.Addr().(*net.TCPAddr).Port
	_, err = m.Join(ctx, other, DefaultNetwork, EndpointOptions{Name: "other", Ports: []PortBinding{{Proto: "udp", ContainerPort: 53}, {Proto: "tcp", ContainerPort: 80, HostPort: uint16(busy)}}})
	if !errdefs.IsConflict(err) || !strings.Contains(err.Error(), "bind: address already in use") {
		t.Errorf("port taken by another program: %v", err)
	}
	if got := nsLinks(t, other); len(got) != 1 {
		t.Errorf("failed joins left links: %v", got)
	}
	if eps, _ := m.Endpoints(DefaultNetwork); len(eps) != 2 { // web and neighbour
		t.Errorf("failed joins left endpoints: %v", eps)
	}

	if err := m.DeleteSandbox(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if rules := iptablesSave(t); strings.Contains(rules, "DNAT") || strings.Contains(rules, ep.IP.String()+"/32") {
		t.Errorf("rules of the deleted sandbox remain:\n%s", rules)
	}
	if l, err := net.Listen("tcp4", ":"+port); err != nil {
		t.Errorf("host port not released: %v", err)
	} else {
		l.Close()
	}
}

func TestPublishedPortRange(t *testing.T) {
	m, _ := newManager(t)
	taken, err := net.Listen("tcp4", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	first := uint16(taken.Addr().(*net.TCPAddr).Port)
	ep := mustJoin(t, m, mustSandbox(t, m, "ranged"), DefaultNetwork, EndpointOptions{Ports: []PortBinding{
		{Proto: "tcp", ContainerPort: 80, HostPort: first, HostPortEnd: first + 1}}})
	if len(ep.Ports) != 1 || ep.Ports[0].HostPort != first+1 || ep.Ports[0].HostPortEnd != 0 {
		t.Errorf("ports = %+v, want host port %d, the first free one of %d-%d", ep.Ports, first+1, first, first+1)
	}
	_, err = m.Join(context.Background(), mustSandbox(t, m, "full"), DefaultNetwork, EndpointOptions{Ports: []PortBinding{
		{Proto: "tcp", ContainerPort: 80, HostPort: first, HostPortEnd: first + 1}}})
	want := fmt.Sprintf("Bind for 0.0.0.0:%d-%d failed: port is already allocated", first, first+1)
	if !errdefs.IsConflict(err) || !strings.Contains(err.Error(), want) {
		t.Errorf("Join on a range in use = %v, want a conflict %q", err, want)
	}
}

func TestInternalNetwork(t *testing.T) {
	m, _ := newManager(t)
	mustCreate(t, m, CreateOptions{Name: "private", Internal: true})
	a, b := mustSandbox(t, m, "ia"), mustSandbox(t, m, "ib")
	epA := mustJoin(t, m, a, "private", EndpointOptions{Ports: []PortBinding{{Proto: "tcp", ContainerPort: 80}}})
	if len(epA.Ports) != 0 || epA.Gateway.IsValid() {
		t.Errorf("on an internal network: ports %v, gateway %v; want none", epA.Ports, epA.Gateway)
	}
	mustJoin(t, m, b, "private", EndpointOptions{})
	serve(t, a.Path, ":80", "hello from a")
	if line, err := greeting(b.Path, epA.IP.String()+":80"); err != nil || line != "hello from a" {
		t.Errorf("peer on the internal network: %q, %v", line, err)
		t.Log(iptablesSave(t))
	}
	assertDefaultRoute(t, a)
	if !strings.Contains(iptablesSave(t), "-A GANTRY-FORWARD -i "+"gbr-") {
		t.Error("no forwarding rules for the internal network")
	}
}

func TestNewCleansLeftovers(t *testing.T) {
	m, cfg := newManager(t)
	sb := mustSandbox(t, m, "crashed")
	mustJoin(t, m, sb, DefaultNetwork, EndpointOptions{Ports: []PortBinding{{Proto: "tcp", ContainerPort: 80}}})
	if !strings.Contains(iptablesSave(t), "DNAT") {
		t.Fatal("no DNAT rule for the published port")
	}
	// gantryd dies: nothing is deleted. (The dead Manager's descriptors stay
	// open in this process and keep the namespace, hence the veth, alive.)
	again := mustNew(t, cfg)
	if entries, _ := os.ReadDir(cfg.RunDir); len(entries) != 0 {
		t.Errorf("RunDir after New: %v", entries)
	}
	if strings.Contains(iptablesSave(t), "DNAT") {
		t.Error("DNAT rule left after New")
	}
	assertHostVeths(t, "gantry0", 0)
	if got := persistedAllocations(t, cfg, DefaultNetwork); len(got) != 0 {
		t.Errorf("allocations after New = %v", got)
	}
	if ep := mustJoin(t, again, mustSandbox(t, again, "next"), DefaultNetwork, EndpointOptions{}); ep.IP.String() != "172.18.0.2" {
		t.Errorf("address after New = %s, want 172.18.0.2", ep.IP)
	}
	t.Cleanup(func() { cleanUp(t, again) })
}

func TestNewRemovesBridgesOfNoNetwork(t *testing.T) {
	_, cfg := newManager(t)
	// A gantryd killed between creating a network's bridge and saving the
	// network (or between saving a removal and deleting the bridge) leaves
	// a bridge that no record names, with its subnet on it.
	stray := &Network{Bridge: "gbr-0123456789a", Subnet: netip.MustParsePrefix("172.19.0.0/16"), Gateway: netip.MustParseAddr("172.19.0.1")}
	if _, err := ensureBridge(stray); err != nil {
		t.Fatal(err)
	}
	m := mustNew(t, cfg)
	t.Cleanup(func() { cleanUp(t, m) })
	if _, err := netlink.LinkByName(stray.Bridge); err == nil {
		deleteBridge(stray.Bridge)
		t.Errorf("bridge %s of no network still exists after New", stray.Bridge)
	}
	if n := mustCreate(t, m, CreateOptions{Name: "after"}); n.Subnet.String() != "172.19.0.0/16" {
		t.Errorf("auto subnet = %s, want 172.19.0.0/16 (the stray bridge's, now free)", n.Subnet)
	}
}

func TestForwardPolicy(t *testing.T) {
	_, cfg := newManager(t)
	for _, tt := range []struct {
		name, forwarding, policy string
	}{
		{"forwarding was off", "0", "DROP"},
		{"forwarding was on", "1", "ACCEPT"}, // the host's policy, left alone
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := iptables("-P", "FORWARD", "ACCEPT"); err != nil {
				t.Fatal(err)
			}
			if err := sysctl("net/ipv4/ip_forward", tt.forwarding); err != nil {
				t.Fatal(err)
			}
			mustNew(t, cfg)
			if got, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); strings.TrimSpace(string(got)) != "1" {
				t.Errorf("ip_forward = %q, want 1", got)
			}
			if rules := iptablesSave(t); !strings.Contains(rules, ":FORWARD "+tt.policy+" ") {
				t.Errorf("FORWARD policy is not %s:\n%s", tt.policy, rules)
			}
		})
	}
	// The other tests run under the DROP policy the first New set (the
	// private namespace starts with forwarding off), as gantryd does on most
	// hosts.
	if err := iptables("-P", "FORWARD", "DROP"); err != nil {
		t.Fatal(err)
	}
}

func TestProxyCloseDuringDial(t *testing.T) {
	if os.Getenv(privateNS) == "" {
		t.Skip("needs root: the network tests run in network and mount namespaces of their own (unshare)")
	}
	// A dial to 10.99.0.2 on a bridge with no port gets no answer: it lasts
	// until its timeout (10 s; ARP would give up after 20 s) or its context
	// ends.
	empty := &Network{Bridge: "gtest-empty", Subnet: netip.MustParsePrefix("10.99.0.0/24"), Gateway: netip.MustParseAddr("10.99.0.1")}
	if _, err := ensureBridge(empty); err != nil {
		t.Fatal(err)
	}
	defer deleteBridge(empty.Bridge)
	if err := sysctl("net/ipv4/neigh/gtest-empty/mcast_solicit", "20"); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan struct{}, 1)
	p := newProxy(notifyingListener{Listener: l, accepted: accepted}, "10.99.0.2:80")
	go p.serve()
	c, err := net.Dial("tcp4", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	<-accepted // the proxy has c and dials
	p.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second)) // the dial's timeout is 10 s
	if _, err := c.Read(make([]byte, 1)); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Error("a connection accepted before Close is still open, waiting for its dial")
	}
}

// notifyingListener tells of every connection it accepts.
type notifyingListener struct {
	net.Listener
	accepted chan<- struct{}
}

func (l notifyingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted <- struct{}{}
	}
	return c, err
}

func BenchmarkSandboxLifecycle(b *testing.B) {
	m, _ := newManager(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := "bench" + strconv.Itoa(i)
		sb, err := m.NewSandbox(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.Join(ctx, sb, DefaultNetwork, EndpointOptions{Name: id}); err != nil {
			b.Fatal(err)
		}
		if err := m.DeleteSandbox(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
}

func assertBridge(t *testing.T, name, addr string) {
	t.Helper()
	l, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatalf("bridge %s: %v", name, err)
	}
	if l.Type() != "bridge" || l.Attrs().Flags&net.FlagUp == 0 {
		t.Errorf("%s is a %s, flags %v; want an up bridge", name, l.Type(), l.Attrs().Flags)
	}
	addrs, _ := netlink.AddrList(l, netlink.FAMILY_V4)
	if len(addrs) != 1 || addrs[0].IPNet.String() != addr {
		t.Errorf("%s addresses = %v, want only %s", name, addrs, addr)
	}
}

// assertDefaultRoute checks the default routes of a sandbox ("GW dev IF").
func assertDefaultRoute(t *testing.T, sb *Sandbox, want ...string) {
	t.Helper()
	h, _ := netns.GetFromPath(sb.Path)
	defer h.Close()
	nl, _ := netlink.NewHandleAt(h)
	defer nl.Close()
	routes, err := nl.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	var defaults []string
	for _, r := range routes {
		if r.Dst == nil || r.Dst.IP.IsUnspecified() {
			l, _ := nl.LinkByIndex(r.LinkIndex)
			defaults = append(defaults, r.Gw.String()+" dev "+l.Attrs().Name)
		}
	}
	if !cmp.Equal(defaults, want, cmpopts.EquateEmpty()) {
		t.Errorf("default routes = %v, want %v", defaults, want)
	}
}

func assertHostVeths(t *testing.T, bridge string, want int) {
	t.Helper()
	br, err := netlink.LinkByName(bridge)
	if err != nil {
		t.Fatal(err)
	}
	links, _ := netlink.LinkList()
	n := 0
	for _, l := range links {
		if l.Attrs().MasterIndex == br.Attrs().Index {
			if !strings.HasPrefix(l.Attrs().Name, "veth") || len(l.Attrs().Name) != 11 {
				t.Errorf("host end %q is not named veth<7 hex>", l.Attrs().Name)
			}
			n++
		}
	}
	if n != want {
		t.Errorf("%s has %d veths, want %d", bridge, n, want)
	}
}

func persistedAllocations(t *testing.T, cfg Config, network string) map[string]netip.Addr {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(cfg.Root, stateFile))
	if err != nil {
		t.Fatal(err)
	}
	var doc stateDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	for _, r := range doc.Networks {
		if r.Name == network {
			return r.Allocations
		}
	}
	t.Fatalf("network %s not in the state file", network)
	return nil
}

// newClient makes another machine: a namespace linked to the test's by a
// veth, with address ip and a default route through hostIP (the test's end
// of the link). It returns the namespace's path.
func newClient(t *testing.T, ip, hostIP string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "client")
	ns, err := createNetNS(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.close(); removeNetNS(path) })
	l, err := ns.addLink(linkConfig{ifName: "eth0", ip: netip.MustParseAddr(ip), bits: 24, gateway: netip.MustParseAddr(hostIP)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteLink(l) })
	host, _ := netlink.LinkByIndex(l.hostIndex)
	a, _ := netlink.ParseAddr(hostIP + "/24")
	if err := netlink.AddrAdd(host, a); err != nil {
		t.Fatal(err)
	}
	return path
}

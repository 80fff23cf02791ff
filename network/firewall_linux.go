package network

import (
	"bytes"
	"fmt"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"

	"github.com/coreos/go-iptables/iptables"
)

// The iptables chains gantryd owns. Built-in chains only get one jump each;
// everything else lives here, so that New can flush and rebuild it.
const (
	chainNAT         = "GANTRY"             // nat: DNAT of published ports (from PREROUTING and OUTPUT, dst-type LOCAL)
	chainPostrouting = "GANTRY-POSTROUTING" // nat: MASQUERADE of the subnets, and of host traffic to published ports
	chainForward     = "GANTRY-FORWARD"     // filter: what the bridges may forward (jumped to first from FORWARD)

	// userBridgePattern matches every user network's bridge (iptables'
	// interface wildcard), for isolation.
	userBridgePattern = "gbr-+"
)

// rule is one iptables rule of one of the GANTRY chains.
type rule struct {
	table, chain string
	args         []string
}

// jump is a rule of a built-in chain sending traffic to one of ours.
type jump struct {
	rule
	first bool // inserted at the top (FORWARD: the host's policy may be DROP)
}

var jumps = []jump{
	{rule{"nat", "PREROUTING", []string{"-m", "addrtype", "--dst-type", "LOCAL", "-j", chainNAT}}, false},
	// Unlike Docker, host traffic to 127.0.0.0/8 is DNATed as well: there is
	// no userland proxy, and route_localnet lets it out to the bridge.
	{rule{"nat", "OUTPUT", []string{"-m", "addrtype", "--dst-type", "LOCAL", "-j", chainNAT}}, false},
	{rule{"nat", "POSTROUTING", []string{"-j", chainPostrouting}}, false},
	{rule{"filter", "FORWARD", []string{"-j", chainForward}}, true},
}

// firewall programs iptables by exec'ing the iptables binaries (iptables-nft
// or legacy, whichever the host has). Additions are one iptables call per
// rule (a couple of milliseconds each with nft); removals go in one
// iptables-restore transaction, since every nft deletion waits for an RCU
// grace period (about 15 ms), once per transaction.
type firewall struct {
	ipt *iptables.IPTables
}

func newFirewall() (*firewall, error) {
	ipt, err := iptables.New(iptables.IPFamily(iptables.ProtocolIPv4))
	if err != nil {
		return nil, fmt.Errorf("iptables: %w", err)
	}
	return &firewall{ipt: ipt}, nil
}

// reset creates the GANTRY chains, or empties them if they exist, and puts
// the jumps to them in place.
func (f *firewall) reset() error {
	for _, c := range []rule{{"nat", chainNAT, nil}, {"nat", chainPostrouting, nil}, {"filter", chainForward, nil}} {
		if err := f.ipt.ClearChain(c.table, c.chain); err != nil {
			return fmt.Errorf("iptables: %w", err)
		}
	}
	for _, j := range jumps {
		var err error
		if j.first {
			err = f.ipt.InsertUnique(j.table, j.chain, 1, j.args...)
		} else {
			err = f.ipt.AppendUnique(j.table, j.chain, j.args...)
		}
		if err != nil {
			return fmt.Errorf("iptables: %w", err)
		}
	}
	return nil
}

// add appends rules to the end of their chains; after an error, those it
// added are removed again.
func (f *firewall) add(rules []rule) error {
	for i, r := range rules {
		if err := f.ipt.Append(r.table, r.chain, r.args...); err != nil {
			f.remove(rules[:i])
			return fmt.Errorf("iptables: %w", err)
		}
	}
	return nil
}

// insert puts rules at the top of their chains, in their order.
func (f *firewall) insert(rules []rule) error {
	for i := len(rules) - 1; i >= 0; i-- {
		r := rules[i]
		if err := f.ipt.Insert(r.table, r.chain, 1, r.args...); err != nil {
			f.remove(rules[i+1:])
			return fmt.Errorf("iptables: %w", err)
		}
	}
	return nil
}

// remove deletes rules in one transaction. If that fails (one of them is
// already gone), each is deleted on its own if it exists.
func (f *firewall) remove(rules []rule) error {
	if len(rules) == 0 {
		return nil
	}
	cmd := exec.Command("iptables-restore", "--noflush", "--wait")
	cmd.Stdin = bytes.NewBufferString(restoreDeletes(rules))
	if err := cmd.Run(); err == nil {
		return nil
	}
	var first error
	for _, r := range rules {
		if err := f.ipt.DeleteIfExists(r.table, r.chain, r.args...); err != nil && first == nil {
			first = fmt.Errorf("iptables: %w", err)
		}
	}
	return first
}

// restoreDeletes is the iptables-restore input deleting rules, table by
// table. Rule arguments never hold spaces or quotes.
func restoreDeletes(rules []rule) string {
	var b strings.Builder
	for _, table := range []string{"nat", "filter"} {
		var lines []string
		for _, r := range rules {
			if r.table == table {
				lines = append(lines, "-D "+r.chain+" "+strings.Join(r.args, " "))
			}
		}
		if len(lines) > 0 {
			fmt.Fprintf(&b, "*%s\n%s\nCOMMIT\n", table, strings.Join(lines, "\n"))
		}
	}
	return b.String()
}

// networkRules are the rules of one bridge network: masquerading to the
// outside, forwarding out of and back to the bridge, intra-bridge traffic,
// and isolation from the other gantry bridges (containers on different
// networks cannot reach each other). Internal networks only get
// intra-bridge traffic.
func networkRules(n *Network) []rule {
	br := n.Bridge
	fwd := func(args ...string) rule { return rule{"filter", chainForward, args} }
	rules := []rule{
		// Host traffic to a published port on 127.0.0.1 leaves with a
		// loopback source; the container could not answer it.
		{"nat", chainPostrouting, []string{"-o", br, "-m", "addrtype", "--src-type", "LOCAL", "-j", "MASQUERADE"}},
		fwd("-i", br, "-o", br, "-j", "ACCEPT"),
		fwd("-i", br, "-o", userBridgePattern, "-j", "DROP"),
	}
	if br != defaultBridge {
		rules = append(rules, fwd("-i", br, "-o", defaultBridge, "-j", "DROP"))
	}
	if n.Internal {
		return append(rules, fwd("-i", br, "-j", "DROP"), fwd("-o", br, "-j", "DROP"))
	}
	return append(rules,
		rule{"nat", chainPostrouting, []string{"-s", n.Subnet.String(), "!", "-o", br, "-j", "MASQUERADE"}},
		fwd("-o", br, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"),
		fwd("-i", br, "-j", "ACCEPT"),
	)
}

// portRules publish one port of a container: DNAT of traffic to the host
// port from anywhere but the container's own bridge, and its forwarding.
func portRules(bridge string, ip netip.Addr, p PortBinding) []rule {
	proto := p.Proto
	dnat := []string{"!", "-i", bridge}
	if p.HostIP.IsValid() && !p.HostIP.IsUnspecified() {
		dnat = append(dnat, "-d", p.HostIP.String()+"/32")
	}
	dnat = append(dnat, "-p", proto, "-m", proto, "--dport", strconv.Itoa(int(p.HostPort)),
		"-j", "DNAT", "--to-destination", netip.AddrPortFrom(ip, p.ContainerPort).String())
	return []rule{
		{"nat", chainNAT, dnat},
		{"filter", chainForward, []string{"-d", ip.String() + "/32", "!", "-i", bridge, "-o", bridge,
			"-p", proto, "-m", proto, "--dport", strconv.Itoa(int(p.ContainerPort)), "-j", "ACCEPT"}},
	}
}

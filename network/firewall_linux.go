package network

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
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
	// Unlike Docker, host traffic to 127.0.0.0/8 is DNATed as well: the
	// held port's proxy only serves the few connections that reach it, and
	// route_localnet lets this traffic out to the bridge.
	{rule{"nat", "OUTPUT", []string{"-m", "addrtype", "--dst-type", "LOCAL", "-j", chainNAT}}, false},
	{rule{"nat", "POSTROUTING", []string{"-j", chainPostrouting}}, false},
	{rule{"filter", "FORWARD", []string{"-j", chainForward}}, true},
}

// The rules are programmed by exec'ing the iptables binaries (iptables-nft
// or legacy, whichever the host has). Batches go through one
// iptables-restore transaction: all or nothing, and one wait for the
// kernel's RCU grace period (about 15 ms with nft) however many rules are
// deleted. A published port's rules are appended one iptables call each
// (2-3 ms), which beats iptables-restore's reading of the whole ruleset.

// resetChains creates the GANTRY chains, or empties them if they exist, fills
// them with rules, and puts the jumps to them in place.
func resetChains(rules []rule) error {
	var b strings.Builder
	for _, table := range []string{"nat", "filter"} {
		fmt.Fprintf(&b, "*%s\n", table)
		for _, c := range []rule{{"nat", chainNAT, nil}, {"nat", chainPostrouting, nil}, {"filter", chainForward, nil}} {
			if c.table == table {
				fmt.Fprintf(&b, ":%s - [0:0]\n", c.chain)
			}
		}
		writeRules(&b, table, "-A", rules)
		b.WriteString("COMMIT\n")
	}
	if err := restore(b.String()); err != nil {
		return err
	}
	for _, j := range jumps {
		if iptables(append([]string{"-t", j.table, "-C", j.chain}, j.args...)...) == nil {
			continue
		}
		op := []string{"-A", j.chain}
		if j.first {
			op = []string{"-I", j.chain, "1"}
		}
		if err := iptables(append(append([]string{"-t", j.table}, op...), j.args...)...); err != nil {
			return err
		}
	}
	return nil
}

// enableForwarding turns IPv4 forwarding on. When it was off, the host
// routed nothing: as dockerd does, the filter FORWARD policy becomes DROP
// first, so that the host forwards what GANTRY-FORWARD accepts and not
// everything between all its interfaces. A policy set by the host (forwarding
// already on) is left alone.
func (m *Manager) enableForwarding() error {
	cur, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err != nil {
		return err
	}
	if string(bytes.TrimSpace(cur)) != "0" {
		return nil
	}
	if err := iptables("-t", "filter", "-P", "FORWARD", "DROP"); err != nil {
		return err
	}
	if err := sysctl("net/ipv4/ip_forward", "1"); err != nil {
		return err
	}
	m.log.Info("turned IPv4 forwarding on, with the policy of the iptables FORWARD chain set to DROP")
	return nil
}

// appendRules appends rules to the end of their chains; after an error, those it
// added are removed again.
func appendRules(rules []rule) error {
	for i, r := range rules {
		if err := iptables(append([]string{"-t", r.table, "-A", r.chain}, r.args...)...); err != nil {
			deleteRules(rules[:i])
			return err
		}
	}
	return nil
}

// insertRules puts rules at the top of their chains, in their order, in one
// transaction.
func insertRules(rules []rule) error {
	reversed := slices.Clone(rules)
	slices.Reverse(reversed)
	return restore(restoreInput("-I", reversed))
}

// deleteRules deletes rules in one transaction. If that fails (one of them is
// already gone), each is deleted on its own if it exists.
func deleteRules(rules []rule) error {
	if len(rules) == 0 || restore(restoreInput("-D", rules)) == nil {
		return nil
	}
	var errs []error
	for _, r := range rules {
		spec := append([]string{"-t", r.table, "-C", r.chain}, r.args...)
		if iptables(spec...) != nil {
			continue // not there
		}
		spec[2] = "-D"
		errs = append(errs, iptables(spec...))
	}
	return errors.Join(errs...)
}

// restoreInput is the iptables-restore input applying op (-A, -I, -D) to
// rules, table by table.
func restoreInput(op string, rules []rule) string {
	var b strings.Builder
	for _, table := range []string{"nat", "filter"} {
		if slices.ContainsFunc(rules, func(r rule) bool { return r.table == table }) {
			fmt.Fprintf(&b, "*%s\n", table)
			writeRules(&b, table, op, rules)
			b.WriteString("COMMIT\n")
		}
	}
	return b.String()
}

// writeRules writes the rules of one table. Rule arguments never hold
// spaces or quotes.
func writeRules(b *strings.Builder, table, op string, rules []rule) {
	for _, r := range rules {
		if r.table == table {
			fmt.Fprintf(b, "%s %s %s\n", op, r.chain, strings.Join(r.args, " "))
		}
	}
}

func iptables(args ...string) error {
	out, err := exec.Command("iptables", append([]string{"--wait"}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("iptables %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

func restore(input string) error {
	cmd := exec.Command("iptables-restore", "--noflush", "--wait")
	cmd.Stdin = strings.NewReader(input)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("iptables-restore: %w: %s", err, bytes.TrimSpace(out))
	}
	return nil
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

package daemon

import (
	"cmp"
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strings"

	"github.com/moby/moby/api/types/network"
)

// linkEnv is the environment a legacy link gives the linking container, as
// dockerd's (moby's daemon/links): name is the link's full name,
// "/<container>/<alias>", and ip, env and ports are the linked container's
// address on the default bridge, Config.Env and exposed ports. For the
// alias in upper case with '-' as '_': ALIAS_NAME; ALIAS_PORT for the first
// port (TCP ports first, then by number); for each port
// ALIAS_PORT_<n>_<PROTO> with its _ADDR, _PORT and _PROTO; for each run of
// consecutive ports of one protocol, _START, _PORT_START, _END and
// _PORT_END on its first port's prefix; ALIAS_ENV_<key> for each variable
// of env but HOME and PATH.
func linkEnv(name string, ip netip.Addr, env []string, ports []network.Port) []string {
	alias := strings.ReplaceAll(strings.ToUpper(path.Base(name)), "-", "_")
	ports = slices.Clone(ports)
	slices.SortFunc(ports, func(a, b network.Port) int {
		if a.Proto() != b.Proto() {
			switch {
			case a.Proto() == network.TCP:
				return -1
			case b.Proto() == network.TCP:
				return 1
			}
			return cmp.Compare(a.Proto(), b.Proto())
		}
		return cmp.Compare(a.Num(), b.Num())
	})
	url := func(p network.Port) string { return fmt.Sprintf("%s://%s:%d", p.Proto(), ip, p.Num()) }
	prefix := func(p network.Port) string {
		return fmt.Sprintf("%s_PORT_%d_%s", alias, p.Num(), strings.ToUpper(string(p.Proto())))
	}
	var out []string
	var start, end network.Port
	for i, p := range ports {
		if i == 0 {
			start, end = p, p
			out = append(out, alias+"_PORT="+url(p))
		}
		pre := prefix(p)
		out = append(out,
			pre+"="+url(p),
			pre+"_ADDR="+ip.String(),
			fmt.Sprintf("%s_PORT=%d", pre, p.Num()),
			fmt.Sprintf("%s_PROTO=%s", pre, p.Proto()))
		if p.Num() == end.Num()+1 && p.Proto() == end.Proto() {
			end = p
			if i < len(ports)-1 {
				continue
			}
		}
		if end != start {
			pre := prefix(start)
			out = append(out,
				pre+"_START="+url(start),
				fmt.Sprintf("%s_PORT_START=%d", pre, start.Num()),
				pre+"_END="+url(end),
				fmt.Sprintf("%s_PORT_END=%d", pre, end.Num()))
		}
		start, end = p, p
	}
	out = append(out, alias+"_NAME="+name)
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "HOME" || k == "PATH" {
			continue
		}
		out = append(out, alias+"_ENV_"+k+"="+v)
	}
	return out
}

package network

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/google/go-cmp/cmp"
)

func TestPickSubnet(t *testing.T) {
	p := netip.MustParsePrefix
	tests := []struct {
		name  string
		taken []netip.Prefix
		want  string
	}{
		{"empty namespace", nil, "172.18.0.0/16"},
		{"docker0 is not in the pools", []netip.Prefix{p("172.17.0.0/16")}, "172.18.0.0/16"},
		{"a route inside the first pool", []netip.Prefix{p("172.18.5.0/24")}, "172.19.0.0/16"},
		{"a wide route", []netip.Prefix{p("172.16.0.0/12")}, "192.168.0.0/20"},
		{"then the /20s", []netip.Prefix{p("172.16.0.0/12"), p("192.168.0.0/24")}, "192.168.16.0/20"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := pickSubnet(nil, tt.taken)
			if err != nil || got.String() != tt.want {
				t.Errorf("pickSubnet = %v, %v; want %s", got, err, tt.want)
			}
		})
	}
	if _, err := pickSubnet(nil, []netip.Prefix{p("0.0.0.0/1"), p("128.0.0.0/1")}); !errdefs.IsUnavailable(err) {
		t.Errorf("every pool taken: err = %v, want unavailable", err)
	}
}

func TestAllocate(t *testing.T) {
	a := netip.MustParseAddr
	subnet := netip.MustParsePrefix("10.0.0.0/29") // .1 to .6 are hosts
	tests := []struct {
		name    string
		gateway string
		used    []string
		want    string // "" when full
	}{
		{"first after the gateway", "10.0.0.1", nil, "10.0.0.2"},
		{"lowest free", "10.0.0.1", []string{"10.0.0.2", "10.0.0.4"}, "10.0.0.3"},
		{"gateway elsewhere", "10.0.0.6", nil, "10.0.0.1"},
		{"never the broadcast", "10.0.0.1", []string{"10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			used := map[netip.Addr]bool{}
			for _, u := range tt.used {
				used[a(u)] = true
			}
			got, ok := allocate(subnet, a(tt.gateway), used)
			if tt.want == "" {
				if ok {
					t.Errorf("allocate = %v, want none", got)
				}
				return
			}
			if !ok || got != a(tt.want) {
				t.Errorf("allocate = %v, %v; want %s", got, ok, tt.want)
			}
		})
	}
}

func TestParseOptions(t *testing.T) {
	subnet := netip.MustParsePrefix("10.1.0.0/16")
	parsers := map[string]func(string) error{
		"subnet": func(s string) error {
			p, err := parseSubnet(s)
			if err == nil && p != p.Masked() {
				t.Errorf("parseSubnet(%s) = %v, not masked", s, p)
			}
			return err
		},
		"gateway": func(s string) error { _, err := parseGateway(s, subnet); return err },
		"bip":     func(s string) error { _, _, err := parseBridgeIP(s); return err },
	}
	tests := []struct {
		kind, value string
		ok          bool
	}{
		{"subnet", "10.1.2.3/16", true},
		{"subnet", "nonsense", false},
		{"subnet", "fd00::/64", false},
		{"subnet", "10.0.0.0/31", false},
		{"gateway", "10.1.0.9", true},
		{"gateway", "10.2.0.1", false},
		{"gateway", "10.1.255.255", false},
		{"bip", "172.30.0.1/16", true},
		{"bip", "172.30.0.0/16", false},
		{"bip", "172.30.0.1", false},
	}
	for _, tt := range tests {
		t.Run(tt.kind+" "+tt.value, func(t *testing.T) {
			err := parsers[tt.kind](tt.value)
			if tt.ok && err != nil || !tt.ok && !errdefs.IsInvalidArgument(err) {
				t.Errorf("err = %v, want ok=%v or an invalid argument", err, tt.ok)
			}
		})
	}
}

func TestMACOf(t *testing.T) {
	if got := formatMAC(macOf(netip.MustParseAddr("172.17.0.2"))); got != "02:42:ac:11:00:02" {
		t.Errorf("macOf(172.17.0.2) = %s, want 02:42:ac:11:00:02", got)
	}
}

// TestAddressPools: Docker's pools cut as before (172.18-31 /16s, then
// 192.168 /20s); a --default-address-pool is cut into subnets of its size,
// in order; pools no bridge can use are refused.
func TestAddressPools(t *testing.T) {
	var want []string
	for b := 18; b <= 31; b++ {
		want = append(want, fmt.Sprintf("172.%d.0.0/16", b))
	}
	for c := 0; c < 256; c += 16 {
		want = append(want, fmt.Sprintf("192.168.%d.0/20", c))
	}
	var got []string
	for p := range candidates(dockerPools) {
		got = append(got, p.String())
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Docker's pools (-want +got):\n%s", d)
	}

	p := netip.MustParsePrefix
	pools := []AddressPool{{p("10.10.0.0/16"), 24}, {p("10.20.0.0/23"), 24}}
	for _, tc := range []struct {
		taken []netip.Prefix
		want  string
	}{
		{nil, "10.10.0.0/24"},
		{[]netip.Prefix{p("10.10.0.0/24"), p("10.10.1.128/25")}, "10.10.2.0/24"},
		{[]netip.Prefix{p("10.10.0.0/16")}, "10.20.0.0/24"},
		{[]netip.Prefix{p("10.10.0.0/16"), p("10.20.0.0/24")}, "10.20.1.0/24"},
	} {
		if got, err := pickSubnet(pools, tc.taken); err != nil || got.String() != tc.want {
			t.Errorf("pickSubnet(%v) = %v, %v; want %s", tc.taken, got, err, tc.want)
		}
	}
	if _, err := pickSubnet(pools, []netip.Prefix{p("10.0.0.0/8")}); !errdefs.IsUnavailable(err) {
		t.Errorf("every subnet of the pools taken: %v, want unavailable", err)
	}
	n := 0
	for range candidates([]AddressPool{{p("10.0.0.0/8"), 30}}) {
		n++
	}
	if n != 1<<22 {
		t.Errorf("10.0.0.0/8 cut into /30s: %d subnets", n)
	}

	for _, tc := range []struct {
		pool AddressPool
		want string
	}{
		{AddressPool{p("10.10.0.0/16"), 24}, ""},
		{AddressPool{p("10.10.1.0/16"), 24}, "network 10.10.1.0/16 is not in canonical form"},
		{AddressPool{p("10.10.0.0/16"), 12}, "network 10.10.0.0/16 has a smaller prefix (/16) than the target size of that pool (/12)"},
		{AddressPool{p("10.10.0.0/16"), 31}, "invalid pool 10.10.0.0/16 size 31: a bridge network needs at least a /30"},
		{AddressPool{p("fd00::/48"), 64}, "invalid pool fd00::/48: only IPv4 pools are supported"},
	} {
		err := CheckAddressPool(tc.pool)
		if (tc.want == "" && err != nil) || (tc.want != "" && (err == nil || err.Error() != tc.want)) {
			t.Errorf("CheckAddressPool(%v) = %v, want %q", tc.pool, err, tc.want)
		}
	}
}

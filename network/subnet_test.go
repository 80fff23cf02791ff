package network

import (
	"net/netip"
	"testing"

	"github.com/containerd/errdefs"
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
			got, err := pickSubnet(tt.taken)
			if err != nil || got.String() != tt.want {
				t.Errorf("pickSubnet = %v, %v; want %s", got, err, tt.want)
			}
		})
	}
	if _, err := pickSubnet([]netip.Prefix{p("0.0.0.0/1"), p("128.0.0.0/1")}); !errdefs.IsUnavailable(err) {
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

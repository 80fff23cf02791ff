package daemon

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	gnetwork "github.com/gantry/gantry/network"
)

func TestEmbeddedResolvConf(t *testing.T) {
	addrs := func(s ...string) []netip.Addr {
		var out []netip.Addr
		for _, a := range s {
			out = append(out, netip.MustParseAddr(a))
		}
		return out
	}
	tests := []struct {
		name, in, want string
		cfg            gnetwork.DNSConfig
	}{
		{
			name: "host's servers become the upstreams",
			in:   "# comment\ndomain example.org\nsearch a.example b.example\nnameserver 10.0.0.1\nnameserver 10.0.0.2\noptions timeout:2\n",
			want: "search a.example b.example\nnameserver 127.0.0.11\noptions timeout:2 ndots:0\n",
			cfg:  gnetwork.DNSConfig{Servers: addrs("10.0.0.1", "10.0.0.2")},
		},
		{
			name: "ndots given is kept, and set",
			in:   "nameserver 10.9.9.9\noptions ndots:2 timeout:1\n",
			want: "nameserver 127.0.0.11\noptions ndots:2 timeout:1\n",
			cfg:  gnetwork.DNSConfig{Servers: addrs("10.9.9.9"), NdotsSet: true},
		},
		{
			name: "search . is no search",
			in:   "search .\nnameserver 8.8.8.8\n",
			want: "nameserver 127.0.0.11\noptions ndots:0\n",
			cfg:  gnetwork.DNSConfig{Servers: addrs("8.8.8.8")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, cfg := embeddedResolvConf([]byte(tt.in))
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("resolv.conf (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.cfg, cfg, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

package daemon

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/network"
)

func TestLinkEnv(t *testing.T) {
	ip := netip.MustParseAddr("172.18.0.2")
	ports := func(ss ...string) []network.Port {
		var out []network.Port
		for _, s := range ss {
			out = append(out, network.MustParsePort(s))
		}
		return out
	}
	tests := []struct {
		name  string
		link  string
		env   []string
		ports []network.Port
		want  []string
	}{
		{
			name: "no ports",
			link: "/web/db-1",
			env:  []string{"PATH=/bin", "HOME=/root", "HOSTNAME=x", "A=b=c", "NOVALUE"},
			want: []string{"DB_1_NAME=/web/db-1", "DB_1_ENV_HOSTNAME=x", "DB_1_ENV_A=b=c"},
		},
		{
			name:  "tcp first, then by number",
			link:  "/web/db",
			ports: ports("53/udp", "6379/tcp", "80/tcp"),
			want: []string{
				"DB_PORT=tcp://172.18.0.2:80",
				"DB_PORT_80_TCP=tcp://172.18.0.2:80", "DB_PORT_80_TCP_ADDR=172.18.0.2", "DB_PORT_80_TCP_PORT=80", "DB_PORT_80_TCP_PROTO=tcp",
				"DB_PORT_6379_TCP=tcp://172.18.0.2:6379", "DB_PORT_6379_TCP_ADDR=172.18.0.2", "DB_PORT_6379_TCP_PORT=6379", "DB_PORT_6379_TCP_PROTO=tcp",
				"DB_PORT_53_UDP=udp://172.18.0.2:53", "DB_PORT_53_UDP_ADDR=172.18.0.2", "DB_PORT_53_UDP_PORT=53", "DB_PORT_53_UDP_PROTO=udp",
				"DB_NAME=/web/db",
			},
		},
		{
			name:  "range",
			link:  "/web/r",
			ports: ports("8001/tcp", "8000/tcp"),
			want: []string{
				"R_PORT=tcp://172.18.0.2:8000",
				"R_PORT_8000_TCP=tcp://172.18.0.2:8000", "R_PORT_8000_TCP_ADDR=172.18.0.2", "R_PORT_8000_TCP_PORT=8000", "R_PORT_8000_TCP_PROTO=tcp",
				"R_PORT_8001_TCP=tcp://172.18.0.2:8001", "R_PORT_8001_TCP_ADDR=172.18.0.2", "R_PORT_8001_TCP_PORT=8001", "R_PORT_8001_TCP_PROTO=tcp",
				"R_PORT_8000_TCP_START=tcp://172.18.0.2:8000", "R_PORT_8000_TCP_PORT_START=8000",
				"R_PORT_8000_TCP_END=tcp://172.18.0.2:8001", "R_PORT_8000_TCP_PORT_END=8001",
				"R_NAME=/web/r",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := linkEnv(tt.link, ip, tt.env, tt.ports)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("linkEnv (-want +got):\n%s", diff)
			}
		})
	}
}

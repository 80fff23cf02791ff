package cli

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/network"
)

func TestParsePublish(t *testing.T) {
	tests := []struct {
		name    string
		specs   []string
		want    network.PortMap
		wantErr string
	}{
		{"container port only", []string{"80"}, network.PortMap{network.MustParsePort("80/tcp"): {{}}}, ""},
		{"host and container", []string{"8080:80/udp"}, network.PortMap{network.MustParsePort("80/udp"): {{HostPort: "8080"}}}, ""},
		{"address", []string{"127.0.0.1:8080:80"}, network.PortMap{network.MustParsePort("80/tcp"): {{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: "8080"}}}, ""},
		{"bad host port", []string{"abc:80"}, nil, "invalid hostPort: abc"},
		{"bad container port", []string{"8080:http"}, nil, `invalid port spec "8080:http"`},
		{"bad address", []string{"1.2.3:8080:80"}, nil, "invalid IP address"},
		{"ranges pair up", []string{"8000-8001:80-81/udp"}, network.PortMap{
			network.MustParsePort("80/udp"): {{HostPort: "8000"}}, network.MustParsePort("81/udp"): {{HostPort: "8001"}}}, ""},
		{"container range, any host ports", []string{"80-81"}, network.PortMap{
			network.MustParsePort("80/tcp"): {{}}, network.MustParsePort("81/tcp"): {{}}}, ""},
		{"host range for one port", []string{"8000-8010:80"}, network.PortMap{network.MustParsePort("80/tcp"): {{HostPort: "8000-8010"}}}, ""},
		{"ranges of different lengths", []string{"9000:80-81"}, nil, "invalid ranges specified for container and host Ports: 80-81 and 9000"},
		{"ranges of different lengths, both", []string{"9000-9002:80-81/udp"}, nil, "invalid ranges specified for container and host Ports: 80-81 and 9000-9002"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, got, err := parsePublish(tt.specs)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("bindings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRunNetworkFlags(t *testing.T) {
	f := containerFlags{network: "appnet", aliases: []string{"db"}, ip: "10.5.0.9", dns: []string{"1.1.1.1"}, expose: []string{"7000-7001"}, publishAll: true}
	cc, err := f.toConfig("busybox", nil, true, false)
	if err != nil {
		t.Fatal(err)
	}
	es := cc.network.EndpointsConfig["appnet"]
	if es == nil || !cmp.Equal(es.Aliases, []string{"db"}) || es.IPAMConfig.IPv4Address != netip.MustParseAddr("10.5.0.9") {
		t.Errorf("endpoint config = %+v", es)
	}
	if len(cc.config.ExposedPorts) != 2 || !cc.host.PublishAllPorts || cc.host.DNS[0] != netip.MustParseAddr("1.1.1.1") {
		t.Errorf("config = %+v, host = %+v", cc.config, cc.host)
	}
	for _, bad := range []containerFlags{{ip: "10.5.0"}, {dns: []string{"x"}}, {expose: []string{"http"}}} {
		if _, err := bad.toConfig("busybox", nil, true, false); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

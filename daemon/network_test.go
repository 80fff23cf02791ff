package daemon

import (
	"net/netip"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

func TestCheckContainerMode(t *testing.T) {
	mode := container.NetworkMode("container:db")
	port := network.MustParsePort("80/tcp")
	tests := []struct {
		name string
		cfg  container.Config
		hc   container.HostConfig
		nc   *network.NetworkingConfig
		want string
	}{
		{"nothing else", container.Config{}, container.HostConfig{NetworkMode: mode}, nil, ""},
		{"no container", container.Config{}, container.HostConfig{NetworkMode: "container:"}, nil, "invalid network mode: invalid container format container:<name|id>"},
		{"hostname", container.Config{Hostname: "h"}, container.HostConfig{NetworkMode: mode, DNS: []netip.Addr{netip.MustParseAddr("1.1.1.1")}}, nil, "conflicting options: hostname and the network mode"},
		{"links", container.Config{}, container.HostConfig{NetworkMode: mode, Links: []string{"a:b"}}, nil, "conflicting options: container type network can't be used with links. This would result in undefined behavior"},
		{"dns", container.Config{}, container.HostConfig{NetworkMode: mode, DNS: []netip.Addr{netip.MustParseAddr("1.1.1.1")}}, nil, "conflicting options: dns and the network mode"},
		{"extra hosts", container.Config{}, container.HostConfig{NetworkMode: mode, ExtraHosts: []string{"a:1.2.3.4"}}, nil, "conflicting options: custom host-to-IP mapping and the network mode"},
		{"mac address", container.Config{}, container.HostConfig{NetworkMode: mode}, &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			"container:db": {MacAddress: network.HardwareAddr{2, 0x42, 0, 0, 0, 1}}}}, "conflicting options: mac-address and the network mode"},
		{"publish", container.Config{ExposedPorts: network.PortSet{port: {}}}, container.HostConfig{NetworkMode: mode, PortBindings: network.PortMap{port: nil}}, nil, "conflicting options: port publishing and the container type network mode"},
		{"publish all", container.Config{}, container.HostConfig{NetworkMode: mode, PublishAllPorts: true}, nil, "conflicting options: port publishing and the container type network mode"},
		{"expose", container.Config{ExposedPorts: network.PortSet{port: {}}}, container.HostConfig{NetworkMode: mode}, nil, "conflicting options: port exposing and the container type network mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkContainerMode(&tt.cfg, &tt.hc, tt.nc)
			if got := errString(err); got != tt.want {
				t.Errorf("checkContainerMode = %q, want %q", got, tt.want)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestHostPortRange(t *testing.T) {
	tests := []struct {
		in          string
		first, last uint16
		bad         bool
	}{
		{in: "", first: 0, last: 0},
		{in: "8080", first: 8080, last: 8080},
		{in: "8000-8010", first: 8000, last: 8010},
		{in: "8010-8000", bad: true},
		{in: "8000-", bad: true},
		{in: "-8000", bad: true},
		{in: "http", bad: true},
		{in: "8000-70000", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			first, last, err := hostPortRange(tt.in)
			if (err != nil) != tt.bad || first != tt.first || last != tt.last {
				t.Errorf("hostPortRange(%q) = %d, %d, %v; want %d, %d (error: %v)", tt.in, first, last, err, tt.first, tt.last, tt.bad)
			}
		})
	}
}

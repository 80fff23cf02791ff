package container

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/blkiodev"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
)

func TestCheckEndpointSupported(t *testing.T) {
	for _, tt := range []struct {
		name    string
		es      *network.EndpointSettings
		wantErr string
	}{
		{name: "none"},
		{name: "aliases", es: &network.EndpointSettings{Aliases: []string{"a"}}},
		{name: "the container's links", es: &network.EndpointSettings{Links: []string{"db:database"}}},
		{name: "driver options", es: &network.EndpointSettings{DriverOpts: map[string]string{"k": "v"}}, wantErr: "driver options of an endpoint on network net are not supported by gantry"},
		{name: "link-local", es: &network.EndpointSettings{IPAMConfig: &network.EndpointIPAMConfig{LinkLocalIPs: []netip.Addr{netip.MustParseAddr("169.254.1.1")}}}, wantErr: "link-local IPs of an endpoint on network net"},
		{name: "other links", es: &network.EndpointSettings{Links: []string{"cache:c"}}, wantErr: "link cache:c of an endpoint on network net is not supported by gantry\nhint: "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckEndpointSupported("net", tt.es, []string{"db:database"})
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errdefs.IsNotImplemented(err)):
				t.Fatalf("error %v, want %q (not implemented)", err, tt.wantErr)
			}
		})
	}
}

func TestCheckSupportedNetworkDisabled(t *testing.T) {
	err := CheckSupported(&container.Config{NetworkDisabled: true}, &container.HostConfig{})
	if err == nil || !errdefs.IsNotImplemented(err) || !strings.Contains(err.Error(), "NetworkDisabled is not supported by gantry") {
		t.Fatalf("NetworkDisabled: %v", err)
	}
}

func TestCheckSupported(t *testing.T) {
	ten := int64(10)
	minusOne := int64(-1)
	tests := []struct {
		name    string
		hc      container.HostConfig
		wantErr string // "" means accepted
		class   func(error) bool
	}{
		{name: "defaults"},
		{name: "runc", hc: container.HostConfig{Runtime: "runc", Isolation: "default", CgroupnsMode: "host"}},
		{name: "another runtime", hc: container.HostConfig{Runtime: "crun"}, wantErr: "Unknown runtime specified crun\nhint: ", class: errdefs.IsInvalidArgument},
		{name: "hyperv", hc: container.HostConfig{Isolation: "hyperv"}, wantErr: `Invalid isolation: "hyperv" - linux only supports 'default'`, class: errdefs.IsInvalidArgument},
		{name: "another container's ipc", hc: container.HostConfig{IpcMode: "container:db"}, wantErr: `ipc mode "container:db" is not supported by gantry`, class: errdefs.IsNotImplemented},
		{name: "private cgroupns", hc: container.HostConfig{CgroupnsMode: "private"}, wantErr: `cgroup namespace mode "private" is not supported by gantry`, class: errdefs.IsNotImplemented},
		{name: "bad cgroupns", hc: container.HostConfig{CgroupnsMode: "shared"}, wantErr: "invalid cgroup namespace mode: shared", class: errdefs.IsInvalidArgument},
		{name: "storage-opt", hc: container.HostConfig{StorageOpt: map[string]string{"size": "1G"}}, wantErr: "--storage-opt is supported only", class: errdefs.IsNotImplemented},
		{name: "cgroup-parent", hc: container.HostConfig{Resources: container.Resources{CgroupParent: "foo"}}, wantErr: "cgroup-parent is not supported by gantry", class: errdefs.IsNotImplemented},
		{name: "swappiness", hc: container.HostConfig{Resources: container.Resources{MemorySwappiness: &ten}}, wantErr: "memory-swappiness is not supported", class: errdefs.IsNotImplemented},
		{name: "swappiness -1 is the default", hc: container.HostConfig{Resources: container.Resources{MemorySwappiness: &minusOne}}},
		{name: "cpu rt", hc: container.HostConfig{Resources: container.Resources{CPURealtimeRuntime: 1000}}, wantErr: "cpu-rt-period/cpu-rt-runtime is not supported", class: errdefs.IsNotImplemented},
		{name: "blkio weight device", hc: container.HostConfig{Resources: container.Resources{BlkioWeightDevice: []*blkiodev.WeightDevice{{Path: "/dev/sda", Weight: 10}}}}, wantErr: "blkio-weight-device is not supported", class: errdefs.IsNotImplemented},
		{name: "device read bps", hc: container.HostConfig{Resources: container.Resources{BlkioDeviceReadBps: []*blkiodev.ThrottleDevice{{Path: "/dev/sda", Rate: 1}}}}, wantErr: "device-read-bps/", class: errdefs.IsNotImplemented},
		{name: "cpu count", hc: container.HostConfig{Resources: container.Resources{CPUCount: 1}}, wantErr: "cpu-count/cpu-percent (Windows only) is not supported", class: errdefs.IsNotImplemented},
		{name: "io maximum", hc: container.HostConfig{Resources: container.Resources{IOMaximumIOps: 1}}, wantErr: "io-maxiops/io-maxbandwidth (Windows only)", class: errdefs.IsNotImplemented},
		{name: "recursive read-only bind", hc: container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeBind, Source: "/x", Target: "/x", ReadOnly: true, BindOptions: &mount.BindOptions{ReadOnlyForceRecursive: true}}}}},
		{name: "non-recursive read-only bind", hc: container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeBind, Source: "/x", Target: "/x", ReadOnly: true, BindOptions: &mount.BindOptions{ReadOnlyNonRecursive: true}}}}},
		{name: "recursive read-only of a writable bind", hc: container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeBind, Source: "/x", Target: "/x", BindOptions: &mount.BindOptions{ReadOnlyForceRecursive: true}}}}, wantErr: "requires 'ReadOnly' to be set", class: errdefs.IsInvalidArgument},
		{name: "both read-only options", hc: container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeBind, Source: "/x", Target: "/x", ReadOnly: true, BindOptions: &mount.BindOptions{ReadOnlyForceRecursive: true, ReadOnlyNonRecursive: true}}}}, wantErr: "cannot mix", class: errdefs.IsInvalidArgument},
		{name: "recursive read-only, shared", hc: container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeBind, Source: "/x", Target: "/x", ReadOnly: true, BindOptions: &mount.BindOptions{ReadOnlyForceRecursive: true, Propagation: mount.PropagationRShared}}}}, wantErr: "requires propagation to be 'rprivate'", class: errdefs.IsInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckSupported(&container.Config{}, &tt.hc)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.wantErr == "":
			case err == nil:
				t.Fatalf("accepted, want %q", tt.wantErr)
			case !strings.Contains(err.Error(), tt.wantErr) || !tt.class(err):
				t.Fatalf("error %q (%T), want %q of its class", err, err, tt.wantErr)
			}
		})
	}
}

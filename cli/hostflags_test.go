package cli

import (
	"net"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/container"
	"github.com/spf13/pflag"
)

func TestHostFlags(t *testing.T) {
	var f containerFlags
	fl := pflag.NewFlagSet("run", pflag.ContinueOnError)
	addContainerFlags(fl, &f)
	err := fl.Parse([]string{"--memory", "64m", "--memory-swap", "-1", "--cpus", "1.5", "--cap-add", "NET_ADMIN", "--cap-drop", "MKNOD",
		"--add-host", "db:10.0.0.2", "--ulimit", "nofile=1024:2048", "--read-only", "--privileged", "--pids-limit", "0",
		"--device", "/dev/fuse", "--device", "/dev/null:/dev/n:r", "--device-cgroup-rule", "c 10:* rwm", "--mac-address", "02:42:ac:11:00:99",
		"--volumes-from", "src:ro", "--oom-kill-disable", "--stop-timeout", "3", "--platform", "linux/amd64", "--pull", "never"})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := f.toConfig("busybox", nil, true, false)
	if err != nil {
		t.Fatal(err)
	}
	h, r := cc.host, cc.host.Resources
	if r.Memory != 64<<20 || r.MemorySwap != -1 || r.NanoCPUs != 1.5e9 || r.PidsLimit == nil || *r.PidsLimit != 0 || r.OomKillDisable == nil || !*r.OomKillDisable {
		t.Errorf("resources: %+v", r)
	}
	if !cmp.Equal(h.CapAdd, []string{"NET_ADMIN"}) || !cmp.Equal(h.CapDrop, []string{"MKNOD"}) || !cmp.Equal(h.ExtraHosts, []string{"db:10.0.0.2"}) ||
		!h.ReadonlyRootfs || !h.Privileged || !cmp.Equal(h.VolumesFrom, []string{"src:ro"}) {
		t.Errorf("host config: %+v", h)
	}
	wantDevices := []container.DeviceMapping{
		{PathOnHost: "/dev/fuse", PathInContainer: "/dev/fuse", CgroupPermissions: "rwm"},
		{PathOnHost: "/dev/null", PathInContainer: "/dev/n", CgroupPermissions: "r"},
	}
	if diff := cmp.Diff(wantDevices, r.Devices); diff != "" || !cmp.Equal(r.DeviceCgroupRules, []string{"c 10:* rwm"}) {
		t.Errorf("devices (-want +got):\n%s\nrules %v", diff, r.DeviceCgroupRules)
	}
	if len(r.Ulimits) != 1 || r.Ulimits[0].Name != "nofile" || r.Ulimits[0].Soft != 1024 || r.Ulimits[0].Hard != 2048 {
		t.Errorf("ulimits: %+v", r.Ulimits)
	}
	if mac := net.HardwareAddr(cc.network.EndpointsConfig["default"].MacAddress).String(); mac != "02:42:ac:11:00:99" {
		t.Errorf("mac address: %q", mac)
	}
	if cc.config.StopTimeout == nil || *cc.config.StopTimeout != 3 || cc.platform != "linux/amd64" || cc.pull != "never" {
		t.Errorf("stop timeout, platform, pull: %v %q %q", cc.config.StopTimeout, cc.platform, cc.pull)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--memory", "lots"}, `invalid argument "lots" for "--memory" flag`},
		{[]string{"--device", "/dev/fuse:/dev/f:xyz"}, "invalid device mode: xyz"},
		{[]string{"--pull", "sometimes"}, "invalid pull option: 'sometimes'"},
		{[]string{"--mac-address", "nope"}, "nope is not a valid mac address"},
	} {
		var f containerFlags
		fl := pflag.NewFlagSet("run", pflag.ContinueOnError)
		addContainerFlags(fl, &f)
		if err := fl.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		if _, err := f.toConfig("busybox", nil, true, false); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
	}
}

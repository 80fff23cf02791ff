package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"
)

// writeConfig writes a daemon.json with content and returns its path.
func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "daemon.json")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestConfigFile: the file's keys set the flags they name, dockerd's
// plurals for the repeatable ones, nested objects flattened as dockerd.
func TestConfigFile(t *testing.T) {
	path := writeConfig(t, "\xef\xbb\xbf"+`{
		"data-root": "/srv/gantry",
		"exec-root": "/run/g",
		"hosts": ["unix:///run/g.sock", "tcp://127.0.0.1:2380"],
		"group": "",
		"log-level": "warn",
		"registry-mirrors": ["https://mirror.example"],
		"insecure-registries": ["10.0.0.0/8", "reg.local:5000"],
		"ip": "127.0.0.1",
		"bip": "172.30.0.1/16",
		"live-restore": false,
		"init": true,
		"init-path": "/usr/bin/tini-static",
		"log-format": "json",
		"pidfile": "/run/g.pid",
		"tls": {"tlsverify": false}
	}`)
	c, err := load([]string{"--config-file", path, "--runtime", "/usr/sbin/runc"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]any{
		"data-root": c.dataRoot, "exec-root": c.execRoot, "hosts": c.hosts, "group": c.group,
		"log-level": c.lvl.String(), "mirrors": c.mirrors, "insecure": c.insecure, "ip": c.defaultBindIP,
		"bip": c.bip, "tlsverify": c.tlsVerify, "runtime": c.runtime, "log-format": c.logFormat, "pidfile": c.pidfile,
		"init": c.init, "init-path": c.initPath,
	}
	want := map[string]any{
		"data-root": "/srv/gantry", "exec-root": "/run/g", "hosts": []string{"unix:///run/g.sock", "tcp://127.0.0.1:2380"}, "group": "",
		"log-level": "WARN", "mirrors": []string{"https://mirror.example"}, "insecure": []string{"10.0.0.0/8", "reg.local:5000"}, "ip": "127.0.0.1",
		"bip": "172.30.0.1/16", "tlsverify": false, "runtime": "/usr/sbin/runc", "log-format": "json", "pidfile": "/run/g.pid",
		"init": true, "init-path": "/usr/bin/tini-static",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("configuration (-want +got):\n%s", d)
	}
	if !c.set["tlsverify"] {
		t.Error(`"tlsverify": false in the file is not an explicit choice`)
	}
	if _, err := load([]string{"--config-file", writeConfig(t, `{"log-format": "xml"}`)}); err == nil || err.Error() != "invalid log format: xml" {
		t.Errorf(`"log-format": "xml": %v`, err)
	}
}

// TestConfigFileRefusals: dockerd's errors for an unknown key and a key
// given both ways, and Gantry's for a dockerd key it does not implement.
func TestConfigFileRefusals(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		args       []string
		want       string
	}{
		{"unknown", `{"foo": 1, "data-root": "/x", "bar": true}`, nil,
			"the following directives don't match any configuration option: bar, foo"},
		{"both", `{"hosts": ["unix:///a.sock"], "data-root": "/x"}`, []string{"-H", "unix:///b.sock", "--data-root", "/y"},
			"the following directives are specified both as a flag and in the configuration file: data-root: (from flag: /y, from file: /x), hosts: (from flag: [unix:///b.sock], from file: [unix:///a.sock])"},
		{"both-shorthand", `{"log-level": "debug"}`, []string{"-l", "warn"},
			"the following directives are specified both as a flag and in the configuration file: log-level: (from flag: warn, from file: debug)"},
		{"not-implemented", `{"shutdown-timeout": 30, "mtu": 1400}`, nil,
			"the following directives are dockerd's but gantryd does not implement them: mtu, shutdown-timeout"},
		{"fixed", `{"ipv6": true}`, nil,
			`the following directives are dockerd's but gantryd does not implement them: ipv6 (gantryd always runs with "ipv6": false)`},
		{"type", `{"debug": "yes"}`, nil, `invalid value for "debug": "yes": want true or false`},
		{"list", `{"hosts": "unix:///x.sock"}`, nil, `invalid value for "hosts": "unix:///x.sock": want a list`},
		{"flag-only", `{"config-file": "/etc/other.json"}`, nil, "the following directives don't match any configuration option: config-file"},
		{"json", `{"debug": true,}`, nil, "invalid character"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.file)
			_, err := load(append(tc.args, "--config-file", path))
			prefix := "unable to configure the Docker daemon with file " + path + ": "
			if err == nil || !strings.HasPrefix(err.Error(), prefix+tc.want) {
				t.Errorf("got %v\nwant %s%s", err, prefix, tc.want)
			}
		})
	}
	if _, err := load([]string{"--config-file", filepath.Join(t.TempDir(), "none.json")}); err == nil {
		t.Error("a missing file named by --config-file is no error")
	}
}

// TestEveryFlagHasAKey: each flag's key leads back to it, and a repeatable
// flag has dockerd's plural key (a row in fileKeys), so a flag added
// without one fails here.
func TestEveryFlagHasAKey(t *testing.T) {
	c, err := load([]string{"--config-file", writeConfig(t, "")})
	if err != nil {
		t.Fatal(err)
	}
	c.flags.VisitAll(func(f *pflag.Flag) {
		key := keyOf(f.Name)
		if key == "" {
			return
		}
		if c.flagOf(key) != f {
			t.Errorf("key %q of --%s names another flag", key, f.Name)
		}
		if _, listed := fileKeys[f.Name]; !listed && isSlice(f) {
			t.Errorf("--%s is repeatable: give it dockerd's plural key in fileKeys", f.Name)
		}
		if _, fixed := fixedKeys[key]; fixed {
			t.Errorf("key %q is both a flag and in fixedKeys", key)
		}
	})
}

// TestReloadChanges: a reload applies the reloadable keys and names the
// others as waiting for a restart.
func TestReloadChanges(t *testing.T) {
	path := writeConfig(t, `{"registry-mirrors": ["http://a.example"], "data-root": "/x"}`)
	before, err := load([]string{"--config-file", path})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, []byte(`{"registry-mirrors": ["http://a.example", "http://b.example"], "debug": true, "data-root": "/y", "bip": "10.9.0.1/16"}`), 0o644)
	after, err := load([]string{"--config-file", path})
	if err != nil {
		t.Fatal(err)
	}
	applied, restart := before.changes(after)
	slices.Sort(applied)
	slices.Sort(restart)
	if d := cmp.Diff([]string{"debug", "registry-mirrors"}, applied); d != "" {
		t.Errorf("applied (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"bip", "data-root"}, restart); d != "" {
		t.Errorf("need a restart (-want +got):\n%s", d)
	}
	if after.lvl.String() != "DEBUG" {
		t.Errorf(`"debug": true gives level %s`, after.lvl)
	}
}

// TestLogDefaults: --log-driver and --log-opt, daemon.json's "log-driver"
// and "log-opts" (an object), checked as a container's log configuration
// with dockerd's words.
func TestLogDefaults(t *testing.T) {
	path := writeConfig(t, `{"log-driver": "json-file", "log-opts": {"max-size": "10m", "max-file": "3"}}`)
	c, err := load([]string{"--config-file", path})
	if err != nil {
		t.Fatal(err)
	}
	cfg := c.daemonConfig(nil)
	if d := cmp.Diff(map[string]string{"max-size": "10m", "max-file": "3"}, cfg.LogOpts); d != "" || cfg.LogDriver != "json-file" {
		t.Errorf("from the file: driver %q, opts (-want +got):\n%s", cfg.LogDriver, d)
	}
	c, err = load([]string{"--config-file", writeConfig(t, `{}`), "--log-driver", "none"})
	if err != nil || c.daemonConfig(nil).LogDriver != "none" {
		t.Errorf("--log-driver none: %v", err)
	}
	for _, tc := range []struct {
		args []string
		file string
		want string
	}{
		{[]string{"--log-opt", "max-size"}, `{}`, `invalid key value pair format in log-opt: "max-size"`},
		{[]string{"--log-opt", "bogus=1"}, `{}`, "failed to set log opts: unknown log opt 'bogus' for json-file log driver"},
		{[]string{"--log-driver", "nope"}, `{}`, `failed to set log opts: error looking up logging plugin nope: plugin "nope" not found`},
		{nil, `{"log-opts": {"max-file": 3}}`, `invalid value for "log-opts": {"max-file":3}: want an object of strings`},
		{nil, `{"log-driver": "none", "log-opts": {"max-size": "1m"}}`, "failed to set log opts: logger: the none log driver takes no options"},
	} {
		_, err := load(append(tc.args, "--config-file", writeConfig(t, tc.file)))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %s: %v, want %q", tc.args, tc.file, err, tc.want)
		}
	}
}

func isSlice(f *pflag.Flag) bool {
	_, repeatable := f.Value.(pflag.SliceValue)
	return repeatable
}

// TestDNSDefaults: --dns, --dns-search and --dns-opt, daemon.json's "dns",
// "dns-search" and "dns-opts", checked as a container's are.
func TestDNSDefaults(t *testing.T) {
	c, err := load([]string{"--config-file", writeConfig(t, `{"dns": ["10.0.0.2", "fd00::53"], "dns-search": ["example.org"], "dns-opts": ["ndots:2", "timeout:1"]}`)})
	if err != nil {
		t.Fatal(err)
	}
	cfg := c.daemonConfig(nil)
	got := fmt.Sprint(cfg.DNS, cfg.DNSSearch, cfg.DNSOptions)
	if want := "[10.0.0.2 fd00::53] [example.org] [ndots:2 timeout:1]"; got != want {
		t.Errorf("daemon.json: %s, want %s", got, want)
	}
	c, err = load([]string{"--config-file", writeConfig(t, ""), "--dns", "1.1.1.1", "--dns-search", "a.example", "--dns-opt", "rotate"})
	if err != nil {
		t.Fatal(err)
	}
	cfg = c.daemonConfig(nil)
	if got, want := fmt.Sprint(cfg.DNS, cfg.DNSSearch, cfg.DNSOptions), "[1.1.1.1] [a.example] [rotate]"; got != want {
		t.Errorf("flags: %s, want %s", got, want)
	}
	for _, tc := range []struct{ file, want string }{
		{`{"dns": ["1.1.1"]}`, "IP address is not correctly formatted: 1.1.1"},
		{`{"dns-search": ["a b"]}`, "a b is not a valid domain"},
		{`{"dns-opts": ["ndots:1\nnameserver 6.6.6.6"]}`, `invalid DNS option "ndots:1\nnameserver 6.6.6.6"`},
		{`{"dns": "1.1.1.1"}`, `want a list`},
	} {
		if _, err := load([]string{"--config-file", writeConfig(t, tc.file)}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.file, err, tc.want)
		}
	}
}

// TestDefaultUlimits: --default-ulimit and daemon.json's "default-ulimits"
// (dockerd's objects by name), with go-units' checks.
func TestDefaultUlimits(t *testing.T) {
	c, err := load([]string{"--config-file", writeConfig(t, `{"default-ulimits": {"nofile": {"Name": "nofile", "Hard": 64000, "Soft": 1024}, "nproc": {"Hard": -1, "Soft": -1}}}`)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range c.daemonConfig(nil).DefaultUlimits {
		got = append(got, u.String())
	}
	if want := "[nofile=1024:64000 nproc=-1:-1]"; fmt.Sprint(got) != want {
		t.Errorf("daemon.json: %v, want %s", got, want)
	}
	c, err = load([]string{"--config-file", writeConfig(t, ""), "--default-ulimit", "core=0", "--default-ulimit", "nofile=10:20"})
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	for _, u := range c.daemonConfig(nil).DefaultUlimits {
		got = append(got, u.String())
	}
	if want := "[core=0:0 nofile=10:20]"; fmt.Sprint(got) != want {
		t.Errorf("flags: %v, want %s", got, want)
	}
	for _, tc := range []struct {
		args []string
		file string
		want string
	}{
		{nil, `{"default-ulimits": {"nofile": {"Name": "nofile", "Hard": 1, "Soft": 2}}}`, "--default-ulimit nofile=2:1: ulimit soft limit must be less than or equal to hard limit: 2 > 1"},
		{nil, `{"default-ulimits": {"bogus": {"Hard": 1, "Soft": 1}}}`, "invalid ulimit type: bogus"},
		{nil, `{"default-ulimits": {"nofile": {"Name": "nproc", "Hard": 1, "Soft": 1}}}`, "the Name is not the key"},
		{nil, `{"default-ulimits": {"nofile": {"Hard": "x"}}}`, `invalid value for "default-ulimits": nofile:`},
		{nil, `{"default-ulimits": {"nofile": 5}}`, `invalid value for "default-ulimits": nofile: 5`},
		{[]string{"--default-ulimit", "nofile"}, "", "invalid ulimit argument: nofile"},
	} {
		if _, err := load(append(tc.args, "--config-file", writeConfig(t, tc.file))); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %s: %v, want %q", tc.args, tc.file, err, tc.want)
		}
	}
}

// TestDefaultAddressPools: --default-address-pool and daemon.json's
// "default-address-pools" (dockerd's objects), checked before the start.
func TestDefaultAddressPools(t *testing.T) {
	c, err := load([]string{"--config-file", writeConfig(t, `{"default-address-pools": [{"base": "10.10.0.0/16", "size": 24}, {"base": "10.20.0.0/20", "size": 26}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(c.daemonConfig(nil).DefaultAddressPools), "[{10.10.0.0/16 24} {10.20.0.0/20 26}]"; got != want {
		t.Errorf("daemon.json: %s, want %s", got, want)
	}
	c, err = load([]string{"--config-file", writeConfig(t, ""), "--default-address-pool", "base=10.30.0.0/16,size=24"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(c.daemonConfig(nil).DefaultAddressPools), "[{10.30.0.0/16 24}]"; got != want {
		t.Errorf("flag: %s, want %s", got, want)
	}
	for _, tc := range []struct {
		args []string
		file string
		want string
	}{
		{nil, `{"default-address-pools": [{"base": "10.10.0.0/16", "size": 8}]}`, "--default-address-pool base=10.10.0.0/16,size=8: network 10.10.0.0/16 has a smaller prefix (/16) than the target size of that pool (/8)"},
		{nil, `{"default-address-pools": [{"base": "10.10.0.0/16"}]}`, `invalid value for "default-address-pools": {"base":"10.10.0.0/16"}: want {"base": "CIDR", "size": N}`},
		{nil, `{"default-address-pools": [{"base": "10.10.0.0/16", "size": 24, "x": 1}]}`, `want {"base": "CIDR", "size": N}`},
		{nil, `{"default-address-pools": {"base": "10.10.0.0/16", "size": 24}}`, "the following directives don't match any configuration option: base, size"}, // an object is flattened, as dockerd's
		{[]string{"--default-address-pool", "base=10.1.0.0/16"}, "", `"base=10.1.0.0/16": want base=CIDR,size=N`},
		{[]string{"--default-address-pool", "base=10.1.0.0/16,size=x"}, "", `invalid size value: "base=10.1.0.0/16,size=x" (must be integer)`},
		{[]string{"--default-address-pool", "base=fd00::/48,size=64"}, "", "only IPv4 pools are supported"},
		{[]string{"--default-address-pool", "base=10.1.0.0/16,size=24,mtu=9"}, "", "unexpected key 'mtu' in 'mtu=9'"},
	} {
		if _, err := load(append(tc.args, "--config-file", writeConfig(t, tc.file))); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %s: %v, want %q", tc.args, tc.file, err, tc.want)
		}
	}
}

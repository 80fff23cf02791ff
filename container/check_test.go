package container

import (
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

func TestCheckCreate(t *testing.T) {
	long := "a"
	for len(long) < 65 {
		long += "a"
	}
	tests := []struct {
		name string
		cfg  container.Config
		hc   container.HostConfig
		nc   *network.NetworkingConfig
		want string // "" when accepted
	}{
		{name: "defaults"},
		{name: "names Docker accepts", cfg: container.Config{Hostname: "web_1.Example-host", Domainname: "example.com", WorkingDir: "/srv/../app"},
			hc: container.HostConfig{ExtraHosts: []string{"db:10.0.0.2", "v6:::1", "v6b=[fe80::1]", "gw:host-gateway"}, DNSSearch: []string{"example.com", ".", "a.b."}, DNSOptions: []string{"ndots:2"}, Links: []string{"/db:/web/database", "cache"}},
			nc: &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{"net": {Aliases: []string{"api", "api.v2"}}, "other": nil}}},
		{name: "hostname with a newline", cfg: container.Config{Hostname: "a\nb"},
			want: "invalid hostname format: \"a\\nb\"\nhint: a host name holds only letters, digits, '-', '.' and '_'"},
		{name: "hostname with a space", cfg: container.Config{Hostname: "a b"}, want: "invalid hostname format: \"a b\"" + hostNameHint},
		{name: "hostname too long", cfg: container.Config{Hostname: long}, want: "hostname \"" + long + "\" is too long (maximum 64 bytes)"},
		{name: "domainname with a newline", cfg: container.Config{Domainname: "ex\nample"}, want: "invalid domainname format: \"ex\\nample\"" + hostNameHint},
		{name: "add-host name injecting a line", hc: container.HostConfig{ExtraHosts: []string{"evil\n6.6.6.6 injected:1.1.1.1"}},
			want: "bad format for add-host: \"evil\\n6.6.6.6 injected:1.1.1.1\"" + hostNameHint},
		{name: "add-host without address", hc: container.HostConfig{ExtraHosts: []string{"name"}}, want: "bad format for add-host: \"name\""},
		{name: "add-host without name", hc: container.HostConfig{ExtraHosts: []string{":1.1.1.1"}}, want: "bad format for add-host: \":1.1.1.1\""},
		{name: "add-host bad address", hc: container.HostConfig{ExtraHosts: []string{"good:1.1.1.x"}}, want: "invalid IP address in add-host: \"1.1.1.x\""},
		{name: "add-host address with a newline", hc: container.HostConfig{ExtraHosts: []string{"good:1.1.1.1\n6.6.6.6 x"}}, want: "invalid IP address in add-host: \"1.1.1.1\\n6.6.6.6 x\""},
		{name: "dns search with a space", hc: container.HostConfig{DNSSearch: []string{"a b"}}, want: "a b is not a valid domain"},
		{name: "dns search digits only", hc: container.HostConfig{DNSSearch: []string{"123"}}, want: "123 is not a valid domain"},
		{name: "dns search label ends with hyphen", hc: container.HostConfig{DNSSearch: []string{"a-.com"}}, want: "a-.com is not a valid domain"},
		{name: "dns option with a newline", hc: container.HostConfig{DNSOptions: []string{"ndots:1\nnameserver 6.6.6.6"}}, want: "invalid DNS option \"ndots:1\\nnameserver 6.6.6.6\""},
		{name: "network alias with a newline", nc: &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{"n": {Aliases: []string{"x\n6.6.6.6 y"}}}},
			want: "invalid alias format for network n: \"x\\n6.6.6.6 y\"" + hostNameHint},
		{name: "link alias with a space", hc: container.HostConfig{Links: []string{"db:a b"}}, want: "invalid link \"db:a b\": bad alias format" + hostNameHint},
		{name: "relative working directory", cfg: container.Config{WorkingDir: "rel/dir"}, want: "the working directory 'rel/dir' is invalid, it needs to be an absolute path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckCreate(&tt.cfg, &tt.hc, tt.nc)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || err.Error() != tt.want || !errdefs.IsInvalidArgument(err)):
				t.Fatalf("err = %v, want invalid argument %q", err, tt.want)
			}
		})
	}
	cfg := container.Config{WorkingDir: "/srv/../app/"}
	if err := CheckCreate(&cfg, nil, nil); err != nil || cfg.WorkingDir != "/app" {
		t.Errorf("working dir %q (%v), want /app cleaned as dockerd does", cfg.WorkingDir, err)
	}
}

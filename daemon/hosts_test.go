package daemon

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	gnetwork "github.com/gantry/gantry/network"
)

func TestResolvConf(t *testing.T) {
	host := "# generated\nsearch corp.example\nnameserver 127.0.0.53\nnameserver 10.0.0.2\noptions edns0\n"
	stub := "# systemd-resolved's stub\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch corp.example\n"
	upstream := "# upstream servers\nnameserver 10.0.0.7\nnameserver 127.0.0.1\nnameserver 10.0.0.8\nsearch other.example\n"
	tests := []struct {
		name                 string
		host, resolved       string // resolved: "" for no systemd-resolved file
		dns, search, options []string
		want                 string
	}{
		{"loopback servers dropped", host, "", nil, nil, nil,
			"# generated\nsearch corp.example\noptions edns0\nnameserver 10.0.0.2\n"},
		{"only loopback: Google's", "nameserver 127.0.0.1\nnameserver ::1\n", "", nil, nil, nil,
			"nameserver 8.8.8.8\nnameserver 8.8.4.4\n"},
		{"flags replace", host, "", []string{"1.1.1.1"}, []string{"a.example"}, []string{"ndots:2"},
			"# generated\nsearch a.example\nnameserver 1.1.1.1\noptions ndots:2\n"},
		{"systemd-resolved stub: its upstream servers", stub, upstream, nil, nil, nil,
			"# systemd-resolved's stub\noptions edns0 trust-ad\nsearch corp.example\nnameserver 10.0.0.7\nnameserver 10.0.0.8\n"},
		{"a reachable server: resolved's unused", host, upstream, nil, nil, nil,
			"# generated\nsearch corp.example\noptions edns0\nnameserver 10.0.0.2\n"},
		{"resolved with only loopback: Google's", stub, "nameserver 127.0.0.1\n", nil, nil, nil,
			"# systemd-resolved's stub\noptions edns0 trust-ad\nsearch corp.example\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"},
		{"--dns wins over resolved's", stub, upstream, []string{"1.1.1.1"}, nil, nil,
			"# systemd-resolved's stub\noptions edns0 trust-ad\nsearch corp.example\nnameserver 1.1.1.1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path, resolvedPath := filepath.Join(dir, "resolv.conf"), filepath.Join(dir, "resolve", "resolv.conf")
			if err := os.WriteFile(path, []byte(tt.host), 0o644); err != nil {
				t.Fatal(err)
			}
			if tt.resolved != "" {
				os.Mkdir(filepath.Dir(resolvedPath), 0o755)
				if err := os.WriteFile(resolvedPath, []byte(tt.resolved), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			hostConf, resolved := readHostResolvConf(path, resolvedPath)
			got := string(resolvConf(hostConf, resolved, tt.dns, tt.search, tt.options))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("resolv.conf (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHostsContent(t *testing.T) {
	own := []gnetwork.Endpoint{{IP: netip.MustParseAddr("10.1.0.2")}, {IP: netip.MustParseAddr("10.2.0.2")}}
	got := string(hostsContent("web1", []string{"1.2.3.4\tfoo"}, own))
	// As dockerd 20.10 writes it on a user network: no peers (the
	// embedded DNS server names them), a line per own address.
	want := localhostEntries + "1.2.3.4\tfoo\n10.1.0.2\tweb1\n10.2.0.2\tweb1\n"
	if got != want {
		t.Errorf("hosts =\n%s\nwant\n%s", got, want)
	}
}

func TestParseExtraHost(t *testing.T) {
	tests := []struct {
		in, name, addr, err string
	}{
		{in: "foo:1.2.3.4", name: "foo", addr: "1.2.3.4"},
		{in: "foo=1.2.3.4", name: "foo", addr: "1.2.3.4"},
		{in: "v6:2001:db8::1", name: "v6", addr: "2001:db8::1"},
		{in: "v6=[2001:db8::1]", name: "v6", addr: "2001:db8::1"},
		{in: "gw:host-gateway", name: "gw", addr: "host-gateway"},
		{in: "foo", err: `bad format for add-host: "foo"`},
		{in: ":1.2.3.4", err: `bad format for add-host: ":1.2.3.4"`},
		{in: "foo:bar", err: `invalid IP address in add-host: "bar"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			name, addr, err := parseExtraHost(tt.in)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Errorf("parseExtraHost(%q) = %v, want error %q", tt.in, err, tt.err)
				}
				return
			}
			if err != nil || name != tt.name || addr != tt.addr {
				t.Errorf("parseExtraHost(%q) = %q, %q, %v; want %q, %q", tt.in, name, addr, err, tt.name, tt.addr)
			}
		})
	}
}

func TestParseLink(t *testing.T) {
	tests := []struct {
		in, name, alias string
		bad             bool
	}{
		{in: "db:mydb", name: "db", alias: "mydb"},
		{in: "db", name: "db", alias: "db"},
		{in: "/db:/web/mydb", name: "db", alias: "mydb"},
		{in: ":mydb", bad: true},
		{in: "db:", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			name, alias, err := parseLink(tt.in)
			if (err != nil) != tt.bad || name != tt.name || alias != tt.alias {
				t.Errorf("parseLink(%q) = %q, %q, %v; want %q, %q (error: %v)", tt.in, name, alias, err, tt.name, tt.alias, tt.bad)
			}
		})
	}
}

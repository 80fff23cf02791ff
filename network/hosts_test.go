package network

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
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
			got := string(ResolvConf(hostConf, resolved, tt.dns, tt.search, tt.options))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("resolv.conf (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHostsContent(t *testing.T) {
	own := []Endpoint{{IP: netip.MustParseAddr("10.1.0.2")}, {IP: netip.MustParseAddr("10.2.0.2")}}
	got := string(HostsFile("web1", []string{"1.2.3.4\tfoo"}, own))
	// As dockerd 20.10 writes it on a user network: no peers (the
	// embedded DNS server names them), a line per own address.
	want := LocalhostEntries + "1.2.3.4\tfoo\n10.1.0.2\tweb1\n10.2.0.2\tweb1\n"
	if got != want {
		t.Errorf("hosts =\n%s\nwant\n%s", got, want)
	}
}

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
		cfg            DNSConfig
	}{
		{
			name: "host's servers become the upstreams",
			in:   "# comment\ndomain example.org\nsearch a.example b.example\nnameserver 10.0.0.1\nnameserver 10.0.0.2\noptions timeout:2\n",
			want: "search a.example b.example\nnameserver 127.0.0.11\noptions timeout:2 ndots:0\n",
			cfg:  DNSConfig{Servers: addrs("10.0.0.1", "10.0.0.2")},
		},
		{
			name: "ndots given is kept, and set",
			in:   "nameserver 10.9.9.9\noptions ndots:2 timeout:1\n",
			want: "nameserver 127.0.0.11\noptions ndots:2 timeout:1\n",
			cfg:  DNSConfig{Servers: addrs("10.9.9.9"), NdotsSet: true},
		},
		{
			name: "search . is no search",
			in:   "search .\nnameserver 8.8.8.8\n",
			want: "nameserver 127.0.0.11\noptions ndots:0\n",
			cfg:  DNSConfig{Servers: addrs("8.8.8.8")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, cfg := EmbeddedResolvConf([]byte(tt.in))
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("resolv.conf (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.cfg, cfg, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

// TestWithOwnLine: a connect adds the container's line for its new
// address, a disconnect removes that line only.
func TestWithOwnLine(t *testing.T) {
	ip := netip.MustParseAddr("10.1.0.5")
	start := []byte(LocalhostEntries + "10.0.0.9\tdb\n172.18.0.2\tweb\n")
	joined := WithOwnLine(start, ip, "web", true)
	if want := string(start) + "10.1.0.5\tweb\n"; string(joined) != want {
		t.Errorf("joined:\n%s\nwant:\n%s", joined, want)
	}
	if left := WithOwnLine(joined, ip, "web", false); string(left) != string(start) {
		t.Errorf("left:\n%s\nwant:\n%s", left, start)
	}
	if got := HostsLine("10.0.0.9", "db", "db.local"); got != "10.0.0.9\tdb db.local\n" {
		t.Errorf("HostsLine: %q", got)
	}
}

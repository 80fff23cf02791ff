package daemon

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	gnetwork "github.com/gantry/gantry/network"
)

func TestResolvConf(t *testing.T) {
	host := "# generated\nsearch corp.example\nnameserver 127.0.0.53\nnameserver 10.0.0.2\noptions edns0\n"
	tests := []struct {
		name                 string
		host                 string
		dns, search, options []string
		want                 string
	}{
		{"loopback servers dropped", host, nil, nil, nil,
			"# generated\nsearch corp.example\noptions edns0\nnameserver 10.0.0.2\n"},
		{"only loopback: Google's", "nameserver 127.0.0.1\nnameserver ::1\n", nil, nil, nil,
			"nameserver 8.8.8.8\nnameserver 8.8.4.4\n"},
		{"flags replace", host, []string{"1.1.1.1"}, []string{"a.example"}, []string{"ndots:2"},
			"# generated\nsearch a.example\nnameserver 1.1.1.1\noptions ndots:2\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(resolvConf([]byte(tt.host), tt.dns, tt.search, tt.options))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("resolv.conf (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHostsContent(t *testing.T) {
	own := []gnetwork.Endpoint{{IP: netip.MustParseAddr("10.1.0.2")}}
	peer := gnetwork.Endpoint{ContainerID: "0123456789abcdef", Name: "db", Aliases: []string{"postgres"}, IP: netip.MustParseAddr("10.1.0.3")}
	got := string(hostsContent("web1", own, []gnetwork.Endpoint{peer, peer}))
	want := localhostEntries + "10.1.0.2\tweb1\n10.1.0.3\tdb postgres 0123456789ab\n"
	if got != want {
		t.Errorf("hosts =\n%s\nwant\n%s", got, want)
	}
	if strings.Count(got, "db postgres") != 1 {
		t.Error("a peer on two shared networks is listed twice")
	}
}

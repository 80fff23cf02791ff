package daemon

import (
	"testing"
)

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

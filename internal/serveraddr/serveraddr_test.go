package serveraddr

import "testing"

func TestHost(t *testing.T) {
	tests := []struct{ addr, want string }{
		{"", Hub},
		{"docker.io", Hub},
		{"https://index.docker.io/v1/", Hub},
		{"registry-1.docker.io", Hub},
		{"host:5000", "host:5000"},
		{"https://host:5000", "host:5000"},
		{"http://host:5000/v2/", "host:5000"},
		{"Host.Example", "Host.Example"},
		{"https:///v2/", ""},
	}
	for _, tt := range tests {
		if got := Host(tt.addr); got != tt.want {
			t.Errorf("Host(%q) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}

package daemon

import "testing"

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

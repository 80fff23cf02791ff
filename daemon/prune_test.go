package daemon

import (
	"strings"
	"testing"
	"time"

	"github.com/gantry/gantry/api"
	"github.com/gantry/gantry/builder"
)

func TestParseUntil(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"24h", now.Add(-24 * time.Hour)},
		{"1700000000", time.Unix(1700000000, 0)},
		{"1700000000.5", time.Unix(1700000000, 5e8)},
		{"2025-06-01T10:00:00Z", time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)},
	} {
		got, err := parseUntil(tc.in, now)
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("parseUntil(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	if _, err := parseUntil("soon", now); err == nil || !strings.Contains(err.Error(), `failed to parse value as time or duration: "soon"`) {
		t.Errorf("parseUntil(soon): %v", err)
	}
}

func TestPruneFilter(t *testing.T) {
	pf, err := parsePruneFilter(api.Filters{"label": {"app": true}, "label!": {"keep=yes": true}, "until": {"1h": true}})
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	for _, tc := range []struct {
		name    string
		created time.Time
		labels  map[string]string
		want    bool
	}{
		{"matches", old, map[string]string{"app": "x"}, true},
		{"too new", time.Now(), map[string]string{"app": "x"}, false},
		{"no label", old, nil, false},
		{"kept by label!", old, map[string]string{"app": "x", "keep": "yes"}, false},
		{"other value of label!", old, map[string]string{"app": "x", "keep": "no"}, true},
	} {
		if got := pf.match(tc.created, tc.labels); got != tc.want {
			t.Errorf("%s: match = %v, want %v", tc.name, got, tc.want)
		}
	}
	if _, err := parsePruneFilter(api.Filters{"nope": {"1": true}}); err == nil || err.Error() != "invalid filter 'nope'" {
		t.Errorf("unknown filter: %v", err)
	}
	if _, err := parsePruneFilter(api.Filters{"dangling": {"true": true}}, "dangling"); err != nil {
		t.Errorf("an extra key the endpoint accepts: %v", err)
	}
}

func TestMatchCacheRecord(t *testing.T) {
	r := builder.CacheRecord{Key: "abc123", Parent: "sha256:beef00", Instruction: "RUN make all"}
	for _, tc := range []struct {
		name   string
		f      api.Filters
		shared bool
		want   bool
	}{
		{"no filter", nil, false, true},
		{"id prefix", api.Filters{"id": {"abc": true}}, false, true},
		{"other id", api.Filters{"id": {"zzz": true}}, false, false},
		{"parent", api.Filters{"parent": {"sha256:beef": true}}, false, true},
		{"description", api.Filters{"description": {"make": true}}, false, true},
		{"type", api.Filters{"type": {"exec.cachemount": true}}, false, false},
		{"in use", api.Filters{"inuse": {"true": true}}, false, false},
		{"shared", api.Filters{"shared": {"true": true}}, true, true},
		{"private of a shared one", api.Filters{"private": {"true": true}}, true, false},
	} {
		if got := matchCacheRecord(tc.f, r, tc.shared); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseSecurityOpts(t *testing.T) {
	dir := t.TempDir()
	profile := filepath.Join(dir, "p.json")
	os.WriteFile(profile, []byte("{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\"\n}\n"), 0o644)
	notJSON := filepath.Join(dir, "bad.json")
	os.WriteFile(notJSON, []byte("{"), 0o644)
	for _, tt := range []struct {
		name    string
		opts    []string
		want    []string
		wantErr string
	}{
		{name: "names pass", opts: []string{"no-new-privileges", "seccomp=unconfined", "seccomp=builtin", "label:disable", "apparmor=unconfined"},
			want: []string{"no-new-privileges", "seccomp=unconfined", "seccomp=builtin", "label:disable", "apparmor=unconfined"}},
		{name: "file sent compacted", opts: []string{"seccomp=" + profile}, want: []string{`seccomp={"defaultAction":"SCMP_ACT_ALLOW"}`}},
		{name: "no value", opts: []string{"bogus"}, wantErr: `Invalid --security-opt: "bogus"`},
		{name: "missing file", opts: []string{"seccomp=" + filepath.Join(dir, "none.json")}, wantErr: "opening seccomp profile (" + filepath.Join(dir, "none.json") + ") failed"},
		{name: "not JSON", opts: []string{"seccomp=" + notJSON}, wantErr: "compacting json for seccomp profile (" + notJSON + ") failed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSecurityOpts(tt.opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}

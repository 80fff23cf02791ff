package cli

import (
	"bytes"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// now is the fixed "current time" of the formatting tests.
var now = time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)

func init() { time.Local = time.UTC }

// golden compares got with testdata/name.golden, rewriting it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}

func testContainers() []container.Summary {
	ago := func(d time.Duration) int64 { return now.Add(-d).Unix() }
	return []container.Summary{
		{
			ID: "0a9e75feec519f0385c00d6b0350cc3197455dd16af74f5a1e2e0720b6c620fb", Names: []string{"/web"},
			Image: "docker.io/library/busybox:latest", ImageID: "sha256:1042ccdf2524aa",
			Command: "sleep 1000 with a long argument list", Created: ago(3 * time.Minute),
			State: "running", Status: "Up 3 minutes", Labels: map[string]string{"b": "2", "a": "1"},
			Ports: []container.PortSummary{
				{IP: netip.MustParseAddr("0.0.0.0"), PrivatePort: 80, PublicPort: 8080, Type: "tcp"},
				{IP: netip.MustParseAddr("::"), PrivatePort: 80, PublicPort: 8080, Type: "tcp"},
				{PrivatePort: 443, Type: "tcp"}, {PrivatePort: 444, Type: "tcp"},
			},
			SizeRw: 12, SizeRootFs: 1984234,
		},
		{
			ID: "d83b0e211dabe78428bfbc80132ad9cfe0b485efaf86b4b390b8384c9f935cfa", Names: []string{"/job"},
			Image: "1042ccdf2524", ImageID: "sha256:1042ccdf2524bb", Command: "sh -c 'exit 3'",
			Created: ago(2 * time.Hour), State: "exited", Status: "Exited (3) 2 hours ago",
		},
	}
}

func TestPsFormat(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts psOptions
	}{
		{"ps-default", psOptions{}},
		{"ps-no-trunc", psOptions{noTrunc: true}},
		{"ps-quiet", psOptions{quiet: true}},
		{"ps-size", psOptions{size: true}},
		{"ps-table-custom", psOptions{format: `table {{.Names}}\t{{.State}}\t{{.Labels}}\t{{.CreatedAt}}`}},
		{"ps-template", psOptions{format: `{{.Names}}: {{.Status}} {{json (.Label "a")}}`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := parseListFormat(psFormat(tc.opts), psHeaders)
			if err != nil {
				t.Fatal(err)
			}
			var rows []any
			for _, c := range testContainers() {
				rows = append(rows, containerRow{c: c, trunc: !tc.opts.noTrunc, now: now})
			}
			var buf bytes.Buffer
			if err := f.write(&buf, rows); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name, buf.Bytes())
		})
	}
}

func testImages() []image.Summary {
	return []image.Summary{
		{
			ID: "sha256:1042ccdf2524aa7b2bd9c8ed5a3fbc09a0a8f3e7b0c0d0e0f0a0b0c0d0e0f0a0", Created: now.Add(-48 * time.Hour).Unix(),
			RepoTags:    []string{"zzz/a:1", "busybox:latest", "busybox:stable"},
			RepoDigests: []string{"busybox@sha256:63e1aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
			Size:        1984234, Containers: -1, SharedSize: -1,
		},
		{ID: "sha256:b0fb39b1f2ab5677571d4448938cea7cd784068d928a685e827c9b5e20d91acf", Created: now.Add(-90 * time.Second).Unix(),
			RepoTags: []string{"<none>:<none>"}, RepoDigests: []string{"<none>@<none>"}, Size: 2048, Containers: -1, SharedSize: -1},
	}
}

func TestImagesFormat(t *testing.T) {
	for _, tc := range []struct {
		name    string
		format  string
		trunc   bool
		digests bool
		quiet   bool
	}{
		{name: "images-default", format: imagesDefaultFormat, trunc: true},
		{name: "images-digests", format: imagesDigestFormat, trunc: true, digests: true},
		{name: "images-no-trunc", format: imagesDefaultFormat},
		{name: "images-quiet", format: idFormat, trunc: true, quiet: true},
		{name: "images-template", format: `{{.Repository}}:{{.Tag}} {{.Size}} {{.Containers}}`, trunc: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := parseListFormat(tc.format, imagesHeaders)
			if err != nil {
				t.Fatal(err)
			}
			rows := imageRows(testImages(), tc.trunc, tc.digests, now)
			if tc.quiet {
				rows = uniqueIDs(rows)
			}
			var buf bytes.Buffer
			if err := f.write(&buf, rows); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name, buf.Bytes())
		})
	}
}

func TestHistoryFormat(t *testing.T) {
	items := []image.HistoryResponseItem{
		{ID: "sha256:1042ccdf2524aa7b2bd9c8ed5a3fbc09a0a8f3e7b0c0d0e0f0a0b0c0d0e0f0a0", Created: now.Add(-time.Hour).Unix(),
			CreatedBy: "/bin/sh -c #(nop)\tCMD [\"sh\"] and a long tail of text", Size: 0, Comment: "imported"},
		{ID: "<missing>", Created: now.Add(-50 * time.Hour).Unix(), CreatedBy: "ADD rootfs /", Size: 1984234},
	}
	for _, tc := range []struct {
		name  string
		human bool
		trunc bool
	}{
		{"history-default", true, true},
		{"history-raw", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := parseListFormat(historyFormat, historyHeaders)
			if err != nil {
				t.Fatal(err)
			}
			var rows []any
			for _, h := range items {
				rows = append(rows, historyRow{h: h, trunc: tc.trunc, human: tc.human, now: now})
			}
			var buf bytes.Buffer
			if err := f.write(&buf, rows); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name, buf.Bytes())
		})
	}
}

func TestDisplayPorts(t *testing.T) {
	ip := netip.MustParseAddr
	for _, tc := range []struct {
		name  string
		ports []container.PortSummary
		want  string
	}{
		{"none", nil, ""},
		{"exposed only", []container.PortSummary{{PrivatePort: 80, Type: "tcp"}}, "80/tcp"},
		{"range", []container.PortSummary{{PrivatePort: 81, Type: "tcp"}, {PrivatePort: 80, Type: "tcp"}, {PrivatePort: 82, Type: "tcp"}}, "80-82/tcp"},
		{"published v4 and v6", []container.PortSummary{
			{IP: ip("0.0.0.0"), PrivatePort: 6379, PublicPort: 6390, Type: "tcp"},
			{IP: ip("::"), PrivatePort: 6379, PublicPort: 6390, Type: "tcp"},
		}, "0.0.0.0:6390->6379/tcp, [::]:6390->6379/tcp"},
		{"same host port", []container.PortSummary{{IP: ip("0.0.0.0"), PrivatePort: 80, PublicPort: 80, Type: "udp"}}, "0.0.0.0:80->80/udp"},
		{"gap", []container.PortSummary{{PrivatePort: 80, Type: "tcp"}, {PrivatePort: 90, Type: "tcp"}}, "80/tcp, 90/tcp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := displayPorts(tc.ports); got != tc.want {
				t.Errorf("displayPorts = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFilterFlag(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		want    string
		wantErr bool
	}{
		{name: "one", args: []string{"name=web"}, want: "name=web"},
		{name: "repeated and normalised", args: []string{" Status = exited", "name=a", "name=b"}, want: "name=a name=b status=exited"},
		{name: "value with equals", args: []string{"label=a=b"}, want: "label=a=b"},
		{name: "missing equals", args: []string{"bad"}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ff := newFilterFlag()
			var err error
			for _, a := range tc.args {
				if err = ff.Set(a); err != nil {
					break
				}
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("Set error = %v, want error %v", err, tc.wantErr)
			}
			if !tc.wantErr && ff.String() != tc.want {
				t.Errorf("filters = %q, want %q", ff.String(), tc.want)
			}
		})
	}
}

func TestEllipsisAndShortID(t *testing.T) {
	for _, tc := range []struct{ name, got, want string }{
		{"short kept", ellipsis("sleep 10", 20), "sleep 10"},
		{"cut with mark", ellipsis("sleep 1000 with a long argument", 20), "sleep 1000 with a l…"},
		{"runes", ellipsis("ééééé", 3), "éé…"},
		{"id prefix dropped", shortID("sha256:1042ccdf2524aa7b"), "1042ccdf2524"},
		{"missing kept", shortID("<missing>"), "<missing>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %q, want %q", tc.got, tc.want)
			}
		})
	}
}

func TestRunExitStatus(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  string
		want int
	}{
		{"not found", `Error response from daemon: exec: "nosuchcmd": executable file not found in $PATH: unknown`, 127},
		{"no such file", "Error response from daemon: exec: /x: no such file or directory", 127},
		{"permission", `Error response from daemon: exec: "/etc": permission denied: unknown`, 126},
		{"other", "Error response from daemon: Conflict. The container name is in use", 125},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := runExitStatus(errString(tc.msg)); got != tc.want {
				t.Errorf("runExitStatus = %d, want %d", got, tc.want)
			}
		})
	}
}

type errString string

func (e errString) Error() string { return string(e) }

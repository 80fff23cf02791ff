package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/registry"
)

// writeDockerConfig points $DOCKER_CONFIG at a new directory holding
// config.json with auths (key -> "user:password", "" for an empty entry)
// and credsStore, and returns the file's path.
func writeDockerConfig(t *testing.T, auths map[string]string, credsStore string) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", dir)
	cfg := map[string]any{"auths": map[string]authEntry{}}
	for k, v := range auths {
		e := authEntry{}
		if v != "" {
			e.Auth = base64.StdEncoding.EncodeToString([]byte(v))
		}
		cfg["auths"].(map[string]authEntry)[k] = e
	}
	if credsStore != "" {
		cfg["credsStore"] = credsStore
	}
	data, _ := json.Marshal(cfg)
	path := filepath.Join(dir, "config.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// storedKeys returns the auths keys of the config file at path, sorted.
func storedKeys(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct{ Auths map[string]json.RawMessage }
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range cfg.Auths {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Run(context.Background(), Streams{In: strings.NewReader(""), Out: &out, Err: &errb}, args)
	return out.String(), errb.String(), code
}

func TestCredentialsGet(t *testing.T) {
	tests := []struct {
		name   string
		auths  map[string]string
		server string
		want   registry.AuthConfig
	}{
		{"exact key", map[string]string{"host:5000": "a:1", "https://host:5000": "b:2"}, "host:5000",
			registry.AuthConfig{ServerAddress: "host:5000", Username: "a", Password: "1"}},
		{"key with scheme", map[string]string{"https://host:5000": "b:2", "other:5000": "c:3"}, "host:5000",
			registry.AuthConfig{ServerAddress: "host:5000", Username: "b", Password: "2"}},
		{"key with scheme and path", map[string]string{"http://host:5000/v2/": "d:4"}, "host:5000",
			registry.AuthConfig{ServerAddress: "host:5000", Username: "d", Password: "4"}},
		{"another port", map[string]string{"https://host:5001": "e:5"}, "host:5000",
			registry.AuthConfig{ServerAddress: "host:5000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			writeDockerConfig(t, tt.auths, "")
			creds, err := loadCredentials()
			if err != nil {
				t.Fatal(err)
			}
			got, err := creds.get(tt.server)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("get(%s) (-want +got):\n%s", tt.server, diff)
			}
		})
	}
}

func TestLogout(t *testing.T) {
	path := writeDockerConfig(t, map[string]string{"host:5000": "a:1", "https://host:5000": "b:2", "http://host:5000/v2/": "c:3", "other:5000": "d:4"}, "")
	out, errOut, code := runCLI(t, "logout", "https://host:5000")
	if code != 0 || out != "Removing login credentials for host:5000\n" || errOut != "" {
		t.Errorf("logout: code %d, stdout %q, stderr %q", code, out, errOut)
	}
	if diff := cmp.Diff([]string{"other:5000"}, storedKeys(t, path)); diff != "" {
		t.Errorf("keys left (-want +got):\n%s", diff)
	}
	out, errOut, code = runCLI(t, "logout", "host:5000")
	if code != 0 || out != "Not logged in to host:5000\n" || errOut != "" {
		t.Errorf("second logout: code %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// TestLogoutHelperFails: a credential helper that cannot erase is a
// warning; the login record goes from the file.
func TestLogoutHelperFails(t *testing.T) {
	bin := t.TempDir()
	helper := "#!/bin/sh\nif [ \"$1\" = erase ]; then echo 'keychain locked'; exit 1; fi\necho 'credentials not found in native keychain'; exit 1\n"
	if err := os.WriteFile(filepath.Join(bin, "docker-credential-gantrytest"), []byte(helper), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	path := writeDockerConfig(t, map[string]string{"https://host:5000": ""}, "gantrytest")
	out, errOut, code := runCLI(t, "logout", "host:5000")
	want := "WARNING: could not erase credentials: docker-credential-gantrytest erase: keychain locked\n"
	if code != 0 || out != "Removing login credentials for host:5000\n" || errOut != want {
		t.Errorf("logout: code %d, stdout %q, stderr %q; want 0 and the warning %q", code, out, errOut, want)
	}
	if keys := storedKeys(t, path); len(keys) != 0 {
		t.Errorf("keys left: %q", keys)
	}
}

// TestCredentialsStoreKeepsFile: storing one entry leaves the other
// entries' fields (those authEntry does not know too) and the other
// settings as they were, writes through a symlink and keeps the mode.
func TestCredentialsStoreKeepsFile(t *testing.T) {
	const before = `{
	"auths": {
		"other:5000": {"auth": "YTox", "email": "a@example.com", "registrytoken": "rt", "future": {"x": [1, 2]}},
		"host:5000": {"auth": "Yjoy", "email": "b@example.com"}
	},
	"psFormat": "{{.ID}}"
}`
	tests := []struct {
		name    string
		symlink bool
		mode    os.FileMode
	}{
		{"plain file", false, 0o600},
		{"group readable", false, 0o640},
		{"symlink", true, 0o644},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Setenv("DOCKER_CONFIG", dir)
			path := filepath.Join(dir, "config.json")
			target := path
			if tt.symlink {
				target = filepath.Join(t.TempDir(), "real.json")
				if err := os.Symlink(target, path); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(target, []byte(before), tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(target, tt.mode); err != nil { // past the umask
				t.Fatal(err)
			}
			creds, err := loadCredentials()
			if err != nil {
				t.Fatal(err)
			}
			if err := creds.store("host:5000", registry.AuthConfig{Username: "c", Password: "3"}); err != nil {
				t.Fatal(err)
			}

			var got, want map[string]any
			if err := json.Unmarshal([]byte(before), &want); err != nil {
				t.Fatal(err)
			}
			want["auths"].(map[string]any)["host:5000"] = map[string]any{"auth": base64.StdEncoding.EncodeToString([]byte("c:3"))}
			data, err := os.ReadFile(target)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(data, &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("file after store (-want +got):\n%s", diff)
			}
			fi, err := os.Lstat(path)
			if err != nil {
				t.Fatal(err)
			}
			if isLink := fi.Mode()&os.ModeSymlink != 0; isLink != tt.symlink {
				t.Errorf("config.json is a symlink: %v, want %v", isLink, tt.symlink)
			}
			fi, err = os.Stat(target)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != tt.mode {
				t.Errorf("mode %v, want %v", fi.Mode().Perm(), tt.mode)
			}
			if entries, _ := os.ReadDir(filepath.Dir(target)); len(entries) != 1 {
				t.Errorf("files left next to the config: %v", entries)
			}
		})
	}
}

// TestLogoutKeepsOtherEntries: erasing one registry's entries keeps the
// other entries' fields.
func TestLogoutKeepsOtherEntries(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", dir)
	path := filepath.Join(dir, "config.json")
	const other = `{"auth":"YTox","email":"a@example.com","registrytoken":"rt"}`
	if err := os.WriteFile(path, []byte(`{"auths":{"other:5000":`+other+`,"host:5000":{"auth":"Yjoy"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := runCLI(t, "logout", "host:5000"); code != 0 {
		t.Fatalf("logout: code %d, stderr %q", code, errOut)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Auths map[string]map[string]string }
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]string{"other:5000": {"auth": "YTox", "email": "a@example.com", "registrytoken": "rt"}}
	if diff := cmp.Diff(want, got.Auths); diff != "" {
		t.Errorf("auths after logout (-want +got):\n%s", diff)
	}
}

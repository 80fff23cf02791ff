package registry

import (
	"context"
	"encoding/pem"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// writeHosts writes dir/<host>/hosts.toml.
func writeHosts(t *testing.T, dir, host, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, host), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, host, "hosts.toml"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A registry's hosts.toml sends its pulls to its mirrors, in the order of
// the file, then to its server; the blobs come from the mirror that
// resolved the tag.
func TestHostsMirrors(t *testing.T) {
	img := newTestImage(t, "registry.k8s.io/pause:3.10")
	good := newFake()
	good.put("pause", "3.10", img)
	goodHost := good.serve(t)
	empty := newFake()
	emptyHost := empty.serve(t)
	origin := newFake()
	originHost := origin.serve(t)

	dir := t.TempDir()
	writeHosts(t, dir, "registry.k8s.io", `
server = "http://`+originHost+`"

[host."http://`+emptyHost+`"]
  capabilities = ["pull", "resolve"]

[host."http://`+goodHost+`/v2"]
  capabilities = ["pull", "resolve"]
`)
	c, _ := New(Config{CertsDir: dir})
	ctx := context.Background()
	pulled, err := c.Resolve(ctx, mustNamed(t, "registry.k8s.io/pause:3.10"), ocispec.Platform{}, Auth{})
	if err != nil {
		t.Fatalf("resolve through hosts.toml: %v", err)
	}
	if pulled.Manifest.Config.Digest != img.push.Config.Digest {
		t.Errorf("resolved config %s, want %s", pulled.Manifest.Config.Digest, img.push.Config.Digest)
	}
	rc, err := c.Blob(ctx, pulled, img.push.Layers[0], Auth{})
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, rc)
	rc.Close()
	if n := good.count("GET /v2/pause/blobs/" + img.push.Layers[0].Digest.String()); n != 1 {
		t.Errorf("the layer was fetched %d times from the mirror that served the manifest, want 1", n)
	}
	if empty.count("GET /v2/pause/manifests/3.10") != 1 {
		t.Errorf("the first mirror was not asked first")
	}
	if n := origin.count("GET /v2/pause/manifests/3.10"); n != 0 {
		t.Errorf("the server was asked %d times, want 0", n)
	}
	if _, _, err := c.Describe(ctx, mustNamed(t, "registry.k8s.io/pause:3.10"), Auth{}); err != nil {
		t.Errorf("describe through hosts.toml: %v", err)
	}

	// Every mirror lacks it: the server answers.
	origin.put("pause", "3.9", img)
	if _, err := c.Resolve(ctx, mustNamed(t, "registry.k8s.io/pause:3.9"), ocispec.Platform{}, Auth{}); err != nil {
		t.Fatalf("resolve falling back to the server: %v", err)
	}
	if origin.count("GET /v2/pause/manifests/3.9") != 1 {
		t.Errorf("the server was not asked")
	}
	// Another registry is not concerned.
	if _, err := c.Resolve(ctx, mustNamed(t, originHost+"/pause:3.10"), ocispec.Platform{}, Auth{}); !errdefs.IsNotFound(err) {
		t.Errorf("resolve on a registry without hosts.toml: got %v, want not found", err)
	}
}

// A host that may only pull serves references by digest, not tags; the
// _default directory configures every registry without its own; Docker
// Hub's directory is docker.io.
func TestHostsCapabilitiesAndDefault(t *testing.T) {
	img := newTestImage(t, "example.invalid/x:1")
	mirror := newFake()
	mirror.put("x", "1", img)
	mirror.put("library/busybox", "1", img)
	mirrorHost := mirror.serve(t)
	dead := httptest.NewServer(nil)
	dead.Close()
	ctx := context.Background()

	dir := t.TempDir()
	writeHosts(t, dir, "_default", `
server = "`+dead.URL+`"
[host."http://`+mirrorHost+`"]
  capabilities = ["pull"]
`)
	c, _ := New(Config{CertsDir: dir})
	if _, err := c.Resolve(ctx, mustNamed(t, "example.invalid/x:1"), ocispec.Platform{}, Auth{}); err == nil {
		t.Fatal("a pull-only host resolved a tag")
	}
	if mirror.count("GET /v2/x/manifests/1") != 0 {
		t.Error("a pull-only host was asked to resolve a tag")
	}
	byDigest := "example.invalid/x@" + digest.FromBytes(img.push.Manifest).String()
	if _, err := c.Resolve(ctx, mustNamed(t, byDigest), ocispec.Platform{}, Auth{}); err != nil {
		t.Fatalf("resolve by digest through a pull-only host of _default: %v", err)
	}

	writeHosts(t, dir, "docker.io", `
server = "`+dead.URL+`"
[host."http://`+mirrorHost+`"]
  capabilities = ["pull", "resolve"]
`)
	if _, err := c.Resolve(ctx, mustNamed(t, "busybox:1"), ocispec.Platform{}, Auth{}); err != nil {
		t.Fatalf("resolve a Docker Hub reference through docker.io/hosts.toml: %v", err)
	}
}

// HTTPS hosts: unverified with skip_verify, verified against ca (a path
// relative to the host's directory), refused otherwise.
func TestHostsTLS(t *testing.T) {
	img := newTestImage(t, "example.invalid/x:1")
	fake := newFake()
	fake.put("x", "1", img)
	srv := httptest.NewTLSServer(fake)
	defer srv.Close()
	ctx := context.Background()
	ref := mustNamed(t, "example.invalid/x:1")

	for _, tc := range []struct {
		name, toml string
		ok         bool
	}{
		{"untrusted", `server = "` + srv.URL + `"`, false},
		{"skip_verify", `server = "` + srv.URL + `"` + "\nskip_verify = true", true},
		{"ca", `[host."` + srv.URL + `"]` + "\nca = \"ca.crt\"", true},
		{"ca list", `[host."` + srv.URL + `"]` + "\nca = [\"ca.crt\"]", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeHosts(t, dir, "example.invalid", tc.toml)
			ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
			if err := os.WriteFile(filepath.Join(dir, "example.invalid", "ca.crt"), ca, 0o644); err != nil {
				t.Fatal(err)
			}
			c, _ := New(Config{CertsDir: dir})
			_, err := c.Resolve(ctx, ref, ocispec.Platform{}, Auth{})
			if tc.ok && err != nil {
				t.Errorf("resolve: %v", err)
			}
			if !tc.ok && err == nil {
				t.Error("resolve through an untrusted certificate succeeded")
			}
		})
	}
}

// A hosts.toml with what Gantry does not know or do is refused, naming
// the file, not half-applied.
func TestHostsRefused(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct{ toml, want string }{
		{`sever = "https://x"`, "sever"},
		{`[host."http://m"]` + "\ncapabilities = [\"pul\"]", `"pul"`},
		{`[host."http://m"]` + "\ncapabilities = [\"resolve\"]", "resolve"},
		{`[host."http://m"]` + "\noverride_path = true", "override_path"},
		{`[host."http://m".header]` + "\nx-a = \"b\"", "header"},
		{`[host."http://m"]` + "\nskip_verify = true", "https"},
		{`[host."m"]`, "http or https"},
		{`server = "ftp://m"`, "http or https"},
		{`[host."https://m"]` + "\nca = 3", "ca"},
		{`[host."https://m"]` + "\nca = \"missing.crt\"", "missing.crt"},
		{`[host."https://m"]` + "\nclient = \"c.pem\"", "no key"},
		{`server = `, "hosts.toml"},
	} {
		dir := t.TempDir()
		writeHosts(t, dir, "example.invalid", tc.toml)
		c, _ := New(Config{CertsDir: dir})
		_, err := c.Resolve(ctx, mustNamed(t, "example.invalid/x:1"), ocispec.Platform{}, Auth{})
		if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "hosts.toml") {
			t.Errorf("%q: got %v, want an invalid-argument error naming hosts.toml and %s", tc.toml, err, tc.want)
		}
	}
}

// Pushes go to the first host that may push, else the server.
func TestHostsPush(t *testing.T) {
	img := newTestImage(t, "example.invalid/x:1")
	pull := newFake()
	pullHost := pull.serve(t)
	push := newFake()
	pushHost := push.serve(t)
	dir := t.TempDir()
	writeHosts(t, dir, "example.invalid", `
server = "http://`+pullHost+`"
capabilities = ["pull", "resolve"]
[host."http://`+pushHost+`"]
  capabilities = ["push"]
`)
	c, _ := New(Config{CertsDir: dir})
	ctx := context.Background()
	if _, err := c.Push(ctx, img.push, img.open, nil, Auth{}, nil); err != nil {
		t.Fatalf("push: %v", err)
	}
	if push.count("PUT /v2/x/manifests/1") != 1 || pull.count("PUT /v2/x/manifests/1") != 0 {
		t.Errorf("the manifest went to the wrong host")
	}

	writeHosts(t, dir, "example.invalid", `
server = "http://`+pullHost+`"
capabilities = ["pull", "resolve"]
`)
	if _, err := c.Push(ctx, img.push, img.open, nil, Auth{}, nil); !errdefs.IsPermissionDenied(err) {
		t.Errorf("push where no host may push: got %v, want permission denied", err)
	}
}

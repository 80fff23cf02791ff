package registry

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// pullAll resolves ref and reads back every layer, comparing with img.
func pullAll(t *testing.T, c *Client, ref string, img testImage, auth Auth) *Image {
	t.Helper()
	ctx := context.Background()
	got, err := c.Resolve(ctx, mustNamed(t, ref), ocispec.Platform{}, auth)
	if err != nil {
		t.Fatalf("resolve %s: %v", ref, err)
	}
	if !bytes.Equal(got.Config, img.blobs[img.push.Config.Digest]) {
		t.Errorf("config of %s differs", ref)
	}
	if !bytes.Equal(got.ManifestBytes, img.push.Manifest) || got.MediaType != img.push.MediaType {
		t.Errorf("manifest of %s differs (media type %s)", ref, got.MediaType)
	}
	for _, l := range got.Manifest.Layers {
		rc, err := c.Blob(ctx, got, l, auth)
		if err != nil {
			t.Fatalf("blob %s: %v", l.Digest, err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("read blob %s: %v", l.Digest, err)
		}
		if !bytes.Equal(b, img.blobs[l.Digest]) {
			t.Errorf("blob %s differs", l.Digest)
		}
	}
	return got
}

func TestRealRegistryRoundTrip(t *testing.T) {
	host := startRegistry(t, registryOptions{})
	c, err := New(Config{UserAgent: "gantry-test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	img := newTestImage(t, host+"/test/app:1")
	layers := img.push.Layers

	var first progressLog
	d, err := c.Push(ctx, img.push, img.open, nil, Auth{}, first.record)
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	if d != digest.FromBytes(img.push.Manifest) {
		t.Errorf("push returned %s, want the manifest's digest", d)
	}
	want := map[digest.Digest]string{layers[0].Digest: "Pushed", layers[1].Digest: "Pushed"}
	if diff := cmp.Diff(want, first.final()); diff != "" {
		t.Errorf("first push progress (-want +got):\n%s", diff)
	}
	if got := first.lines[layers[1].Digest]; got[0] != "Preparing" || !strings.Contains(strings.Join(got, ","), "Pushing") {
		t.Errorf("first push statuses of a layer: %q", got)
	}

	got := pullAll(t, c, host+"/test/app:1", img, Auth{})
	if got.Digest != d {
		t.Errorf("resolved digest %s, pushed %s", got.Digest, d)
	}
	pullAll(t, c, host+"/test/app@"+d.String(), img, Auth{})

	var again progressLog
	if _, err := c.Push(ctx, img.push, img.open, nil, Auth{}, again.record); err != nil {
		t.Fatalf("push again: %v", err)
	}
	want = map[digest.Digest]string{layers[0].Digest: "Layer already exists", layers[1].Digest: "Layer already exists"}
	if diff := cmp.Diff(want, again.final()); diff != "" {
		t.Errorf("second push progress (-want +got):\n%s", diff)
	}

	other := img
	other.push.Ref = mustTagged(t, host+"/other/app:2")
	from := mustNamed(t, host+"/test/app")
	var mounted progressLog
	mounts := map[digest.Digest]reference.Named{layers[0].Digest: from, layers[1].Digest: from}
	if _, err := c.Push(ctx, other.push, img.open, mounts, Auth{}, mounted.record); err != nil {
		t.Fatalf("push with mounts: %v", err)
	}
	want = map[digest.Digest]string{layers[0].Digest: "Mounted from test/app", layers[1].Digest: "Mounted from test/app"}
	if diff := cmp.Diff(want, mounted.final()); diff != "" {
		t.Errorf("mounting push progress (-want +got):\n%s", diff)
	}
	pullAll(t, c, host+"/other/app:2", img, Auth{})

	for _, ref := range []string{host + "/test/app:missing", host + "/nope/nothing:1"} {
		_, err := c.Resolve(ctx, mustNamed(t, ref), ocispec.Platform{}, Auth{})
		if !errdefs.IsNotFound(err) || err.Error() != "manifest unknown: manifest unknown" {
			t.Errorf("resolve %s: got %v, want not found: manifest unknown: manifest unknown", ref, err)
		}
	}
	_, err = c.Resolve(ctx, mustNamed(t, host+"/test/app@"+digest.FromString("x").String()), ocispec.Platform{}, Auth{})
	if !errdefs.IsNotFound(err) {
		t.Errorf("resolve an unknown digest: got %v, want not found", err)
	}
}

func TestRealRegistryAuth(t *testing.T) {
	host := startRegistry(t, registryOptions{user: "alice", password: "s3cret"})
	c, _ := New(Config{})
	ctx := context.Background()
	good := Auth{Username: "alice", Password: "s3cret", ServerAddress: host}
	bad := Auth{Username: "alice", Password: "wrong", ServerAddress: host}

	if tok, err := c.Login(ctx, good); err != nil || tok != "" {
		t.Errorf("login: %q, %v", tok, err)
	}
	_, err := c.Login(ctx, bad)
	if want := "login attempt to http://" + host + "/v2/ failed with status: 401 Unauthorized"; !errdefs.IsUnauthorized(err) || err == nil || err.Error() != want {
		t.Errorf("login with a wrong password: got %v, want unauthenticated: %s", err, want)
	}

	img := newTestImage(t, host+"/private/app:1")
	if _, err := c.Push(ctx, img.push, img.open, nil, Auth{}, nil); !errdefs.IsPermissionDenied(err) || err.Error() != "no basic auth credentials" {
		t.Errorf("anonymous push: got %v, want permission denied: no basic auth credentials", err)
	}
	if _, err := c.Push(ctx, img.push, img.open, nil, bad, nil); !errdefs.IsUnauthorized(err) || err.Error() != "unauthorized: authentication required" {
		t.Errorf("push with a wrong password: got %v, want unauthenticated: unauthorized: authentication required", err)
	}
	if _, err := c.Push(ctx, img.push, img.open, nil, good, nil); err != nil {
		t.Fatalf("push: %v", err)
	}
	pullAll(t, c, host+"/private/app:1", img, good)

	ref := mustNamed(t, host+"/private/app:1")
	if _, err := c.Resolve(ctx, ref, ocispec.Platform{}, Auth{}); !errdefs.IsPermissionDenied(err) {
		t.Errorf("anonymous pull: got %v, want permission denied", err)
	}
	if _, err := c.Resolve(ctx, ref, ocispec.Platform{}, bad); !errdefs.IsUnauthorized(err) || err.Error() != "unauthorized: authentication required" {
		t.Errorf("pull with a wrong password: got %v, want unauthenticated", err)
	}
}

func TestRealRegistryTLS(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t)
	serverCert, serverKey := ca.issue(t, dir, "server", "registry.test")
	host := startRegistry(t, registryOptions{tlsCert: serverCert, tlsKey: serverKey, clientCA: ca.path(t, dir)})
	_, port, _ := net.SplitHostPort(host)
	name := "registry.test:" + port

	certsDir := filepath.Join(dir, "certs.d")
	hostDir := filepath.Join(certsDir, name)
	os.MkdirAll(hostDir, 0o755)
	os.Rename(ca.path(t, dir), filepath.Join(hostDir, "ca.crt"))
	clientCert, clientKey := ca.issue(t, dir, "client", "gantry")
	os.Rename(clientCert, filepath.Join(hostDir, "client.cert"))
	os.Rename(clientKey, filepath.Join(hostDir, "client.key"))

	c, _ := New(Config{CertsDir: certsDir})
	c.dial = dialTo(host)
	img := newTestImage(t, name+"/tls/app:1")
	if _, err := c.Push(context.Background(), img.push, img.open, nil, Auth{}, nil); err != nil {
		t.Fatalf("push over TLS: %v", err)
	}
	pullAll(t, c, name+"/tls/app:1", img, Auth{})

	untrusting, _ := New(Config{})
	untrusting.dial = dialTo(host)
	_, err := untrusting.Resolve(context.Background(), mustNamed(t, name+"/tls/app:1"), ocispec.Platform{}, Auth{})
	var unknownAuthority x509.UnknownAuthorityError
	if !errors.As(err, &unknownAuthority) {
		t.Errorf("resolve without the CA: got %v, want x509: certificate signed by unknown authority", err)
	}
}

// TestRealRegistryCorruptBlob puts a proxy that flips a byte of one layer
// between the client and the registry.
func TestRealRegistryCorruptBlob(t *testing.T) {
	host := startRegistry(t, registryOptions{})
	c, _ := New(Config{})
	ctx := context.Background()
	img := newTestImage(t, host+"/corrupt/app:1")
	if _, err := c.Push(ctx, img.push, img.open, nil, Auth{}, nil); err != nil {
		t.Fatal(err)
	}
	victim := img.push.Layers[1].Digest
	proxy := httptest.NewServer(&httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(&url.URL{Scheme: "http", Host: host}) },
		ModifyResponse: func(resp *http.Response) error {
			if strings.HasSuffix(resp.Request.URL.Path, "/blobs/"+victim.String()) {
				resp.Body = &flipper{ReadCloser: resp.Body, at: 1000}
			}
			return nil
		},
	})
	defer proxy.Close()
	proxied := strings.TrimPrefix(proxy.URL, "http://")
	got, err := c.Resolve(ctx, mustNamed(t, proxied+"/corrupt/app:1"), ocispec.Platform{}, Auth{})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := c.Blob(ctx, got, img.push.Layers[1], Auth{})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	_, err = io.Copy(io.Discard, rc)
	if !errors.Is(err, errdefs.ErrDataLoss) || err.Error() != "filesystem layer verification failed for digest "+victim.String() {
		t.Errorf("reading a corrupted blob: got %v, want data loss naming %s", err, victim)
	}
}

// flipper inverts the byte at offset at of a stream.
type flipper struct {
	io.ReadCloser
	at, n int64
}

func (f *flipper) Read(p []byte) (int, error) {
	n, err := f.ReadCloser.Read(p)
	if i := f.at - f.n; i >= 0 && i < int64(n) {
		p[i] ^= 0xff
	}
	f.n += int64(n)
	return n, err
}

// dialTo sends every connection to addr, so that names resolve without DNS.
func dialTo(addr string) func(ctx context.Context, network, _ string) (net.Conn, error) {
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
}

// testCA is a certificate authority for TLS tests.
type testCA struct {
	cert *x509.Certificate
	der  []byte
	key  *ecdsa.PrivateKey
}

func newCA(t *testing.T) testCA {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "gantry test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return testCA{cert: cert, der: der, key: key}
}

// path writes the CA certificate to dir/ca.pem.
func (ca testCA) path(t *testing.T, dir string) string {
	p := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// issue writes a certificate for name (server and client use) and its key.
func (ca testCA) issue(t *testing.T, dir, file, name string) (string, string) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	certPath, keyPath := filepath.Join(dir, file+".crt"), filepath.Join(dir, file+".key")
	os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	return certPath, keyPath
}

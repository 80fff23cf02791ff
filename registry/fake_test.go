package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// fakeRegistry is an in-memory registry on httptest for the cases the real
// one cannot produce. Uploads get relative locations with a query.
type fakeRegistry struct {
	mu        sync.Mutex
	manifests map[string]fakeDoc // "repo:tag" and "repo@digest"
	blobs     map[digest.Digest][]byte
	uploads   map[string][]byte
	mountable map[digest.Digest][]byte // blobs of the repository mountable/repo
	hits      map[string]int           // "METHOD path" without the query
	// auth, when set, decides a request: "" lets it through, else the
	// WWW-Authenticate challenge of a 401.
	auth func(r *http.Request) string
	// blob, when set, serves blob GETs instead of the store.
	blob func(w http.ResponseWriter, r *http.Request, content []byte)
	// manifestType, when set, replaces the Content-Type of manifests.
	manifestType string
}

type fakeDoc struct {
	mediaType string
	body      []byte
}

func newFake() *fakeRegistry {
	return &fakeRegistry{manifests: map[string]fakeDoc{}, blobs: map[digest.Digest][]byte{}, uploads: map[string][]byte{}, mountable: map[digest.Digest][]byte{}, hits: map[string]int{}}
}

// serve starts the fake and returns its host:port.
func (f *fakeRegistry) serve(t *testing.T) string {
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// put stores img's blobs and manifest under repo:tag.
func (f *fakeRegistry) put(repo, tag string, img testImage) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for d, b := range img.blobs {
		f.blobs[d] = b
	}
	f.putDoc(repo, tag, img.push.MediaType, img.push.Manifest)
}

func (f *fakeRegistry) putDoc(repo, tag, mediaType string, body []byte) {
	doc := fakeDoc{mediaType, body}
	f.manifests[repo+":"+tag] = doc
	f.manifests[repo+"@"+digest.FromBytes(body).String()] = doc
}

func (f *fakeRegistry) count(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[key]
}

func (f *fakeRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.hits[r.Method+" "+r.URL.Path]++
	f.mu.Unlock()
	if f.auth != nil {
		if ch := f.auth(r); ch != "" {
			w.Header().Set("WWW-Authenticate", ch)
			writeErr(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
			return
		}
	}
	path := r.URL.Path
	switch {
	case path == "/v2/":
		w.WriteHeader(http.StatusOK)
	case strings.HasPrefix(path, "/upload/"):
		f.upload(w, r)
	case strings.Contains(path, "/manifests/"):
		f.manifest(w, r)
	case strings.HasSuffix(path, "/blobs/uploads/"):
		f.startUpload(w, r)
	case strings.Contains(path, "/blobs/"):
		f.getBlob(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeRegistry) manifest(w http.ResponseWriter, r *http.Request) {
	repo, ref, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/v2/"), "/manifests/")
	sep := ":"
	if strings.Contains(ref, ":") {
		sep = "@"
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Method == http.MethodPut {
		body, _ := io.ReadAll(r.Body)
		f.putDoc(repo, ref, r.Header.Get("Content-Type"), body)
		w.Header().Set("Docker-Content-Digest", digest.FromBytes(body).String())
		w.WriteHeader(http.StatusCreated)
		return
	}
	doc, ok := f.manifests[repo+sep+ref]
	if !ok {
		writeErr(w, http.StatusNotFound, "MANIFEST_UNKNOWN", "manifest unknown")
		return
	}
	w.Header().Set("Content-Type", doc.mediaType)
	if f.manifestType != "" {
		w.Header().Set("Content-Type", f.manifestType)
	}
	w.Write(doc.body)
}

func (f *fakeRegistry) getBlob(w http.ResponseWriter, r *http.Request) {
	_, d, _ := strings.Cut(r.URL.Path, "/blobs/")
	f.mu.Lock()
	content, ok := f.blobs[digest.Digest(d)]
	f.mu.Unlock()
	switch {
	case !ok:
		writeErr(w, http.StatusNotFound, "BLOB_UNKNOWN", "blob unknown to registry")
	case r.Method == http.MethodHead:
		w.Header().Set("Content-Length", strconv.Itoa(len(content)))
	case f.blob != nil:
		f.blob(w, r, content)
	default:
		w.Write(content)
	}
}

func (f *fakeRegistry) startUpload(w http.ResponseWriter, r *http.Request) {
	if from, d := r.URL.Query().Get("from"), r.URL.Query().Get("mount"); from != "" {
		f.mu.Lock()
		content, ok := f.mountable[digest.Digest(d)]
		if ok && from == "mountable/repo" {
			f.blobs[digest.Digest(d)] = content
		}
		f.mu.Unlock()
		if ok && from == "mountable/repo" {
			w.WriteHeader(http.StatusCreated)
			return
		}
	}
	f.mu.Lock()
	id := fmt.Sprintf("u%d", len(f.uploads))
	f.uploads[id] = nil
	f.mu.Unlock()
	w.Header().Set("Location", "/upload/"+id+"?_state=s%2Bt")
	w.WriteHeader(http.StatusAccepted)
}

func (f *fakeRegistry) upload(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, "/upload/")
	if r.URL.Query().Get("_state") != "s+t" {
		writeErr(w, http.StatusBadRequest, "BLOB_UPLOAD_INVALID", "lost the upload state")
		return
	}
	body, _ := io.ReadAll(r.Body)
	d := digest.Digest(r.URL.Query().Get("digest"))
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Method == http.MethodDelete {
		delete(f.uploads, id)
		return
	}
	if digest.FromBytes(body) != d {
		writeErr(w, http.StatusBadRequest, "DIGEST_INVALID", "provided digest did not match uploaded content")
		return
	}
	f.blobs[d] = body
	delete(f.uploads, id)
	w.Header().Set("Docker-Content-Digest", d.String())
	w.WriteHeader(http.StatusCreated)
}

func writeErr(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"errors":[{"code":%q,"message":%q,"detail":null}]}`, code, message)
}

// tokenServer issues the token "T" (and refresh token "R" for offline
// requests) for alice:pw or the identity token "R", and "anon" to anonymous
// requests; it records the requests.
type tokenServer struct {
	mu   sync.Mutex
	reqs []*http.Request
	url  string
}

func newTokenServer(t *testing.T) *tokenServer {
	ts := &tokenServer{}
	srv := httptest.NewServer(ts)
	t.Cleanup(srv.Close)
	ts.url = srv.URL + "/token"
	return ts
}

func (ts *tokenServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	ts.mu.Lock()
	ts.reqs = append(ts.reqs, r)
	ts.mu.Unlock()
	user, pass, basic := r.BasicAuth()
	resp := map[string]any{"expires_in": 300}
	switch {
	case r.Method == http.MethodPost && r.PostForm.Get("grant_type") == "refresh_token" && r.PostForm.Get("refresh_token") == "R":
		resp["access_token"] = "T"
	case basic && user == "alice" && pass == "pw":
		resp["token"] = "T"
		if r.Form.Get("offline_token") == "true" {
			resp["refresh_token"] = "R"
		}
	case !basic && r.Method == http.MethodGet:
		resp["token"] = "anon"
	default:
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"details":"incorrect username or password"}`)
		return
	}
	json.NewEncoder(w).Encode(resp)
}

func (ts *tokenServer) count() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return len(ts.reqs)
}

func (ts *tokenServer) last() *http.Request {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.reqs[len(ts.reqs)-1]
}

// bearerRegistry is a fake that wants the token "T" (or "anon" for pulls
// of public/), as a token server at ts issues them.
func bearerRegistry(ts *tokenServer) *fakeRegistry {
	f := newFake()
	f.auth = func(r *http.Request) string {
		switch r.Header.Get("Authorization") {
		case "Bearer T":
			return ""
		case "Bearer anon":
			if strings.HasPrefix(r.URL.Path, "/v2/public/") && r.Method == http.MethodGet {
				return ""
			}
			return fmt.Sprintf(`Bearer realm=%q,service="fake",error="insufficient_scope"`, ts.url)
		}
		return fmt.Sprintf(`Bearer realm=%q,service="fake"`, ts.url)
	}
	return f
}

func TestBearerAuth(t *testing.T) {
	ts := newTokenServer(t)
	f := bearerRegistry(ts)
	host := f.serve(t)
	img := newTestImage(t, host+"/private/app:1")
	f.put("private/app", "1", img)
	f.put("public/app", "1", img)
	c, _ := New(Config{})
	ctx := context.Background()
	alice := Auth{Username: "alice", Password: "pw"}

	got, err := c.Resolve(ctx, mustNamed(t, host+"/private/app:1"), ocispec.Platform{}, alice)
	if err != nil {
		t.Fatal(err)
	}
	first := ts.last()
	if q := first.URL.Query(); q.Get("service") != "fake" || q.Get("scope") != "repository:private/app:pull" || q.Get("account") != "alice" {
		t.Errorf("token request query: %v", q)
	}
	var wg sync.WaitGroup
	for _, l := range got.Manifest.Layers {
		wg.Go(func() {
			rc, err := c.Blob(ctx, got, l, alice)
			if err == nil {
				_, err = io.Copy(io.Discard, rc)
				rc.Close()
			}
			if err != io.EOF && err != nil {
				t.Errorf("blob %s: %v", l.Digest, err)
			}
		})
	}
	wg.Wait()
	if n := ts.count(); n != 1 {
		t.Errorf("token server asked %d times, want once (the token is cached)", n)
	}

	if _, err := c.Resolve(ctx, mustNamed(t, host+"/public/app:1"), ocispec.Platform{}, Auth{}); err != nil {
		t.Errorf("anonymous pull of a public repository: %v", err)
	}
	if auth := ts.last().Header.Get("Authorization"); auth != "" {
		t.Errorf("anonymous token request sent credentials: %s", auth)
	}
	_, err = c.Resolve(ctx, mustNamed(t, host+"/private/app:1"), ocispec.Platform{}, Auth{})
	if !errdefs.IsPermissionDenied(err) || err.Error() != deniedText {
		t.Errorf("anonymous pull of a private repository: got %v, want permission denied: %s", err, deniedText)
	}

	bad := Auth{Username: "alice", Password: "nope"}
	_, err = c.Resolve(ctx, mustNamed(t, host+"/private/app:1"), ocispec.Platform{}, bad)
	if !errdefs.IsUnauthorized(err) || err.Error() != "unauthorized: incorrect username or password" {
		t.Errorf("pull with a wrong password: got %v", err)
	}
	_, err = c.Login(ctx, Auth{Username: "alice", Password: "nope", ServerAddress: host})
	if want := `Get "http://` + host + `/v2/": unauthorized: incorrect username or password`; !errdefs.IsUnauthorized(err) || err.Error() != want {
		t.Errorf("login with a wrong password: got %v, want %s", err, want)
	}

	refresh, err := c.Login(ctx, Auth{Username: "alice", Password: "pw", ServerAddress: "https://" + host + "/v1/"})
	if err != nil || refresh != "R" {
		t.Fatalf("login: %q, %v; want the identity token R", refresh, err)
	}
	if q := ts.last().URL.Query(); q.Get("offline_token") != "true" || q.Get("client_id") != "docker" {
		t.Errorf("login token request asked for no refresh token: %v", q)
	}

	n := ts.count()
	withIdentity := Auth{Username: "alice", IdentityToken: "R"}
	if _, err := c.Resolve(ctx, mustNamed(t, host+"/private/app:1"), ocispec.Platform{}, withIdentity); err != nil {
		t.Fatalf("pull with an identity token: %v", err)
	}
	if r := ts.last(); ts.count() != n+1 || r.Method != http.MethodPost || r.PostForm.Get("scope") != "repository:private/app:pull" {
		t.Errorf("identity token was not exchanged by an OAuth POST: %s %v", r.Method, r.PostForm)
	}

	n = ts.count()
	if _, err := c.Resolve(ctx, mustNamed(t, host+"/private/app:1"), ocispec.Platform{}, Auth{RegistryToken: "T"}); err != nil {
		t.Errorf("pull with a registry token: %v", err)
	}
	if ts.count() != n {
		t.Errorf("a registry token went to the token server")
	}
}

func TestMirrors(t *testing.T) {
	img := newTestImage(t, "docker.io/library/app:1")
	good := newFake()
	good.put("library/app", "1", img)
	goodHost := good.serve(t)
	empty := newFake()
	emptyHost := empty.serve(t)
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()

	c, _ := New(Config{Mirrors: []string{dead.URL, "http://" + emptyHost, "http://" + goodHost + "/"}})
	ctx := context.Background()
	pulled, err := c.Resolve(ctx, mustNamed(t, "app:1"), ocispec.Platform{}, Auth{})
	if err != nil {
		t.Fatalf("resolve through mirrors: %v", err)
	}
	rc, err := c.Blob(ctx, pulled, img.push.Layers[0], Auth{})
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, rc)
	rc.Close()
	if n := good.count("GET /v2/library/app/blobs/" + img.push.Layers[0].Digest.String()); n != 1 {
		t.Errorf("the layer was fetched %d times from the mirror that served the manifest, want 1", n)
	}
	if empty.count("GET /v2/library/app/manifests/1") != 1 {
		t.Errorf("the second mirror was not asked")
	}

	// Every mirror fails: Docker Hub itself answers (here a TLS fake,
	// reached by name, trusted as insecure).
	hub := newFake()
	hub.put("library/app", "1", img)
	hubSrv := httptest.NewTLSServer(hub)
	defer hubSrv.Close()
	c, _ = New(Config{Mirrors: []string{"http://" + emptyHost}, Insecure: []string{hubHost}})
	c.dial = dialMap(map[string]string{hubHost + ":443": strings.TrimPrefix(hubSrv.URL, "https://")})
	if _, err := c.Resolve(ctx, mustNamed(t, "app:1"), ocispec.Platform{}, Auth{}); err != nil {
		t.Fatalf("resolve falling back to Docker Hub: %v", err)
	}
	if hub.count("GET /v2/library/app/manifests/1") != 1 {
		t.Errorf("Docker Hub was not asked")
	}

	// Mirrors are for Docker Hub only.
	if _, err := c.Resolve(ctx, mustNamed(t, emptyHost+"/x/y:1"), ocispec.Platform{}, Auth{}); !errdefs.IsNotFound(err) {
		t.Errorf("resolve on another registry: %v", err)
	}
	if _, err := New(Config{Mirrors: []string{"mirror.example"}}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("a mirror without a scheme: got %v, want invalid argument", err)
	}
}

// dialMap redirects connections to the addresses in m; others go where
// they were going.
func dialMap(m map[string]string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if to, ok := m[addr]; ok {
			addr = to
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
}

func TestBlobRedirectDropsAuth(t *testing.T) {
	img := newTestImage(t, "x/app:1")
	var leaked bool
	storage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked = leaked || r.Header.Get("Authorization") != ""
		w.Write(img.blobs[digest.Digest(strings.TrimPrefix(r.URL.Path, "/"))])
	}))
	defer storage.Close()
	f := newFake()
	f.auth = func(r *http.Request) string {
		if u, p, ok := r.BasicAuth(); ok && u == "alice" && p == "pw" {
			return ""
		}
		return `Basic realm="fake"`
	}
	f.blob = func(w http.ResponseWriter, r *http.Request, content []byte) {
		_, d, _ := strings.Cut(r.URL.Path, "/blobs/")
		http.Redirect(w, r, storage.URL+"/"+d+"?X-Amz-Signature=abc", http.StatusTemporaryRedirect)
	}
	host := f.serve(t)
	f.put("x/app", "1", img)
	c, _ := New(Config{})
	got := pullAll(t, c, host+"/x/app:1", img, Auth{Username: "alice", Password: "pw"})
	if got == nil || leaked {
		t.Errorf("the registry's credentials went to the storage it redirected to")
	}
}

func TestBlobVerification(t *testing.T) {
	img := newTestImage(t, "x/app:1", 20000)
	desc := img.push.Layers[0]
	content := img.blobs[desc.Digest]
	half := len(content) / 2
	var ranges []string
	tests := []struct {
		name  string
		serve func(w http.ResponseWriter, r *http.Request)
		want  string // the error; "" for none
	}{
		{"intact", func(w http.ResponseWriter, r *http.Request) { w.Write(content) }, ""},
		{"flipped byte", func(w http.ResponseWriter, r *http.Request) {
			bad := bytes.Clone(content)
			bad[7] ^= 1
			w.Write(bad)
		}, "filesystem layer verification failed for digest " + desc.Digest.String()},
		{"too long", func(w http.ResponseWriter, r *http.Request) {
			w.Write(append(bytes.Clone(content), 'x'))
		}, fmt.Sprintf("filesystem layer verification failed for digest %s: more than the %d bytes of its descriptor", desc.Digest, desc.Size)},
		{"too short", func(w http.ResponseWriter, r *http.Request) {
			w.Write(content[:half])
		}, fmt.Sprintf("filesystem layer verification failed for digest %s: %d of its %d bytes", desc.Digest, half, desc.Size)},
		{"cut and resumed", func(w http.ResponseWriter, r *http.Request) {
			if rg := r.Header.Get("Range"); rg != "" {
				ranges = append(ranges, rg)
				from, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(rg, "bytes="), "-"))
				w.WriteHeader(http.StatusPartialContent)
				w.Write(content[from:])
				return
			}
			w.Header().Set("Content-Length", strconv.Itoa(len(content)))
			w.Write(content[:half])
			w.(http.Flusher).Flush()
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			f.put("x/app", "1", img)
			f.blob = func(w http.ResponseWriter, r *http.Request, other []byte) {
				if !strings.HasSuffix(r.URL.Path, desc.Digest.String()) {
					w.Write(other)
					return
				}
				tt.serve(w, r)
			}
			host := f.serve(t)
			c, _ := New(Config{})
			got, err := c.Resolve(context.Background(), mustNamed(t, host+"/x/app:1"), ocispec.Platform{}, Auth{})
			if err != nil {
				t.Fatal(err)
			}
			rc, err := c.Blob(context.Background(), got, desc, Auth{})
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			b, err := io.ReadAll(rc)
			switch {
			case tt.want == "" && (err != nil || !bytes.Equal(b, content)):
				t.Errorf("read: %v (%d bytes)", err, len(b))
			case tt.want != "" && (!errors.Is(err, errdefs.ErrDataLoss) || err.Error() != tt.want):
				t.Errorf("read: got %v, want data loss: %s", err, tt.want)
			}
		})
	}
	if len(ranges) != 1 || ranges[0] != fmt.Sprintf("bytes=%d-", half) {
		t.Errorf("resume requests: %q", ranges)
	}
}

// TestBlobGivesUp: a blob cut part-way at every request is resumed
// maxResumes times, each where the last stopped, then the read fails
// saying so.
func TestBlobGivesUp(t *testing.T) {
	img := newTestImage(t, "x/app:1", 20000)
	desc := img.push.Layers[0]
	content := img.blobs[desc.Digest]
	const piece = 1000
	var ranges []string
	f := newFake()
	f.put("x/app", "1", img)
	f.blob = func(w http.ResponseWriter, r *http.Request, other []byte) {
		if !strings.HasSuffix(r.URL.Path, desc.Digest.String()) {
			w.Write(other)
			return
		}
		from := 0
		if rg := r.Header.Get("Range"); rg != "" {
			ranges = append(ranges, rg)
			from, _ = strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(rg, "bytes="), "-"))
			w.Header().Set("Content-Length", strconv.Itoa(len(content)-from))
			w.WriteHeader(http.StatusPartialContent)
		} else {
			w.Header().Set("Content-Length", strconv.Itoa(len(content)))
		}
		w.Write(content[from : from+piece])
		w.(http.Flusher).Flush()
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
	}
	host := f.serve(t)
	c, _ := New(Config{})
	got, err := c.Resolve(context.Background(), mustNamed(t, host+"/x/app:1"), ocispec.Platform{}, Auth{})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := c.Blob(context.Background(), got, desc, Auth{})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	want := fmt.Sprintf("read blob %s: unexpected EOF (after %d resumes)", desc.Digest, maxResumes)
	if !errdefs.IsUnavailable(err) || err.Error() != want || len(b) != (maxResumes+1)*piece {
		t.Errorf("read %d bytes, error %v; want %d bytes and unavailable: %s", len(b), err, (maxResumes+1)*piece, want)
	}
	if diff := cmp.Diff([]string{"bytes=1000-", "bytes=2000-", "bytes=3000-"}, ranges); diff != "" {
		t.Errorf("resume requests (-want +got):\n%s", diff)
	}
}

func TestManifestChecks(t *testing.T) {
	img := newTestImage(t, "x/app:1")
	f := newFake()
	host := f.serve(t)
	f.put("x/app", "1", img)
	c, _ := New(Config{})
	ctx := context.Background()

	// A registry that answers a digest with other content.
	other := digest.FromString("other")
	f.mu.Lock()
	f.manifests["x/app@"+other.String()] = fakeDoc{img.push.MediaType, img.push.Manifest}
	f.mu.Unlock()
	_, err := c.Resolve(ctx, mustNamed(t, host+"/x/app@"+other.String()), ocispec.Platform{}, Auth{})
	if !errors.Is(err, errdefs.ErrDataLoss) || !strings.Contains(err.Error(), other.String()) {
		t.Errorf("manifest by digest with other content: got %v, want data loss naming the digest", err)
	}

	// A generic Content-Type: the document says what it is.
	f.manifestType = "application/json"
	got, err := c.Resolve(ctx, mustNamed(t, host+"/x/app:1"), ocispec.Platform{}, Auth{})
	if err != nil || got.MediaType != ocispec.MediaTypeImageManifest {
		t.Errorf("manifest with a generic Content-Type: %v, %v", got, err)
	}

	f.manifestType = mediaTypeSchema1Signed
	if _, err := c.Resolve(ctx, mustNamed(t, host+"/x/app:1"), ocispec.Platform{}, Auth{}); !errdefs.IsNotImplemented(err) || !strings.Contains(err.Error(), "schema 1") {
		t.Errorf("schema 1: got %v, want not implemented", err)
	}
}

// TestResolveArtifact: a manifest whose config is not an image's is
// refused with its media type, as dockerd does, before the config is
// fetched.
func TestResolveArtifact(t *testing.T) {
	tests := []struct {
		configType string
		wantErr    string // "" for an image
	}{
		{ocispec.MediaTypeImageConfig, ""},
		{mediaTypeDockerConfig, ""},
		{"application/octet-stream", ""},
		{"application/vnd.cncf.helm.config.v1+json", "unsupported media type application/vnd.cncf.helm.config.v1+json"},
		{"application/vnd.oci.empty.v1+json", "unsupported media type application/vnd.oci.empty.v1+json"},
	}
	for _, tt := range tests {
		t.Run(tt.configType, func(t *testing.T) {
			img := newTestImage(t, "x/app:1")
			img.push.Config.MediaType = tt.configType
			img.writeManifest()
			f := newFake()
			host := f.serve(t)
			f.put("x/app", "1", img)
			c, _ := New(Config{})
			_, err := c.Resolve(context.Background(), mustNamed(t, host+"/x/app:1"), ocispec.Platform{}, Auth{})
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("got %v, want the image", err)
			case tt.wantErr != "" && (!errdefs.IsInvalidArgument(err) || err.Error() != tt.wantErr):
				t.Errorf("got %v, want invalid argument %q", err, tt.wantErr)
			case tt.wantErr != "" && f.count("GET /v2/x/app/blobs/"+img.push.Config.Digest.String()) != 0:
				t.Errorf("the config of an artifact was fetched")
			}
		})
	}
}

func TestResolveIndex(t *testing.T) {
	amd := newTestImage(t, "x/app:1")
	arm := newTestImage(t, "x/app:1")
	f := newFake()
	host := f.serve(t)
	f.put("x/app", "amd", amd)
	f.put("x/app", "arm", arm)
	index, _ := json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: mediaTypeDockerList,
		Manifests: []ocispec.Descriptor{
			{MediaType: mediaTypeDockerManifest, Digest: digest.FromBytes(amd.push.Manifest), Size: int64(len(amd.push.Manifest)), Platform: &ocispec.Platform{OS: "linux", Architecture: "amd64"}},
			{MediaType: mediaTypeDockerManifest, Digest: digest.FromBytes(arm.push.Manifest), Size: int64(len(arm.push.Manifest)), Platform: &ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}},
		},
	})
	f.mu.Lock()
	f.putDoc("x/app", "multi", mediaTypeDockerList, index)
	f.mu.Unlock()
	c, _ := New(Config{})
	ref := mustNamed(t, host+"/x/app:multi")
	got, err := c.Resolve(context.Background(), ref, ocispec.Platform{OS: "linux", Architecture: "arm64"}, Auth{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != digest.FromBytes(index) || !bytes.Equal(got.ManifestBytes, arm.push.Manifest) {
		t.Errorf("resolved digest %s and another manifest than arm64's", got.Digest)
	}
	_, err = c.Resolve(context.Background(), ref, ocispec.Platform{OS: "linux", Architecture: "s390x"}, Auth{})
	if !errdefs.IsNotFound(err) || err.Error() != "no matching manifest for linux/s390x in the manifest list entries" {
		t.Errorf("no manifest for the platform: %v", err)
	}
}

func TestChoose(t *testing.T) {
	entries := []ocispec.Platform{
		{OS: "linux", Architecture: "amd64"},
		{OS: "linux", Architecture: "amd64", Variant: "v3"},
		{OS: "linux", Architecture: "arm64"},
		{OS: "linux", Architecture: "arm", Variant: "v6"},
		{OS: "linux", Architecture: "arm", Variant: "v7"},
		{OS: "windows", Architecture: "amd64"},
	}
	index := ocispec.Index{}
	for i, p := range entries {
		index.Manifests = append(index.Manifests, ocispec.Descriptor{Digest: digest.FromString(strconv.Itoa(i)), Platform: &p})
	}
	body, _ := json.Marshal(index)
	tests := []struct {
		want ocispec.Platform
		pick int // index into entries; -1 for none
	}{
		{ocispec.Platform{OS: "linux", Architecture: "amd64"}, 0},
		{ocispec.Platform{OS: "linux", Architecture: "x86_64"}, 0},
		{ocispec.Platform{OS: "linux", Architecture: "amd64", Variant: "v3"}, 1},
		{ocispec.Platform{OS: "linux", Architecture: "arm64"}, 2},
		{ocispec.Platform{OS: "linux", Architecture: "aarch64", Variant: "v8"}, 2},
		{ocispec.Platform{OS: "linux", Architecture: "arm"}, 4},
		{ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, 4},
		{ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "6"}, 3},
		{ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v5"}, -1},
		// Found by FuzzManifest: this listed a billion variants.
		{ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v999999999"}, 4},
		{ocispec.Platform{OS: "windows", Architecture: "amd64"}, 5},
		{ocispec.Platform{OS: "linux", Architecture: "ppc64le"}, -1},
	}
	for _, tt := range tests {
		t.Run(formatPlatform(tt.want), func(t *testing.T) {
			got, err := choose(body, tt.want)
			switch {
			case tt.pick < 0 && !errdefs.IsNotFound(err):
				t.Errorf("got %v, %v; want no match", got.Platform, err)
			case tt.pick >= 0 && (err != nil || got.Digest != index.Manifests[tt.pick].Digest):
				t.Errorf("got %v, %v; want %v", got.Platform, err, entries[tt.pick])
			}
		})
	}
}

func TestPushToFake(t *testing.T) {
	f := newFake()
	host := f.serve(t)
	img := newTestImage(t, host+"/x/app:1", 100, 200, 300, 400, 500)
	// The second layer can be mounted; the third names a repository that
	// lacks it, so the registry opens an upload instead.
	f.mu.Lock()
	f.mountable[img.push.Layers[1].Digest] = img.blobs[img.push.Layers[1].Digest]
	f.mu.Unlock()
	mounts := map[digest.Digest]reference.Named{
		img.push.Layers[1].Digest: mustNamed(t, host+"/mountable/repo"),
		img.push.Layers[2].Digest: mustNamed(t, host+"/elsewhere/repo"),
		img.push.Layers[3].Digest: mustNamed(t, "docker.io/library/other"),
	}
	var log progressLog
	c, _ := New(Config{})
	// Slow uploads keep the three slots taken while the other layers start.
	slowOpen := func(desc ocispec.Descriptor) (io.ReadCloser, error) {
		time.Sleep(100 * time.Millisecond)
		return img.open(desc)
	}
	d, err := c.Push(context.Background(), img.push, slowOpen, mounts, Auth{}, log.record)
	if err != nil {
		t.Fatal(err)
	}
	if d != digest.FromBytes(img.push.Manifest) {
		t.Errorf("digest %s", d)
	}
	final := log.final()
	for i, l := range img.push.Layers {
		want := "Pushed"
		if i == 1 {
			want = "Mounted from mountable/repo"
		}
		if final[l.Digest] != want {
			t.Errorf("layer %d: %q, want %q", i, log.lines[l.Digest], want)
		}
	}
	waited := 0
	for _, lines := range log.lines {
		if slices.Contains(lines, "Waiting") {
			waited++
		}
	}
	if waited == 0 {
		t.Errorf("five layers and none waited for one of the three upload slots")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.uploads) != 0 {
		t.Errorf("upload sessions left open: %v", f.uploads)
	}
	for dg := range img.blobs {
		if !bytes.Equal(f.blobs[dg], img.blobs[dg]) {
			t.Errorf("blob %s not stored", dg)
		}
	}
	if doc := f.manifests["x/app:1"]; doc.mediaType != img.push.MediaType || !bytes.Equal(doc.body, img.push.Manifest) {
		t.Errorf("manifest stored as %q", doc.mediaType)
	}
}

func TestPushFailureCancelsUpload(t *testing.T) {
	f := newFake()
	host := f.serve(t)
	img := newTestImage(t, host+"/x/app:1")
	broken := func(desc ocispec.Descriptor) (io.ReadCloser, error) {
		b := bytes.Clone(img.blobs[desc.Digest])
		b[0] ^= 1
		return io.NopCloser(bytes.NewReader(b)), nil
	}
	c, _ := New(Config{})
	_, err := c.Push(context.Background(), img.push, broken, nil, Auth{}, nil)
	if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "digest invalid: provided digest did not match uploaded content") {
		t.Errorf("push of corrupt content: got %v", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.uploads) != 0 {
		t.Errorf("failed upload sessions were not cancelled: %v", f.uploads)
	}
	if _, ok := f.manifests["x/app:1"]; ok {
		t.Errorf("the manifest was pushed after a layer failed")
	}
}

func TestParseChallenges(t *testing.T) {
	h := http.Header{}
	h.Add("WWW-Authenticate", `Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push"`)
	h.Add("WWW-Authenticate", `Basic realm="a \"quoted\" realm"`)
	h.Add("WWW-Authenticate", `Bearer realm=https://x/token, error=insufficient_scope`)
	got := parseChallenges(h)
	want := []challenge{
		{"bearer", map[string]string{"realm": "https://auth.docker.io/token", "service": "registry.docker.io", "scope": "repository:library/busybox:pull,push"}},
		{"basic", map[string]string{"realm": `a "quoted" realm`}},
		{"bearer", map[string]string{"realm": "https://x/token", "error": "insufficient_scope"}},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(challenge{})); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestBlobWithoutSize: descriptors without a size do not make reads
// unbounded. A config is read up to its limit; a layer is refused.
func TestBlobWithoutSize(t *testing.T) {
	ctx := context.Background()
	c, _ := New(Config{})
	resolve := func(t *testing.T, serveConfig func(w http.ResponseWriter, content []byte)) (*Image, testImage, error) {
		t.Helper()
		img := newTestImage(t, "x/app:1", 1000)
		img.push.Config.Size = 0
		img.writeManifest()
		f := newFake()
		f.put("x/app", "1", img)
		f.blob = func(w http.ResponseWriter, r *http.Request, content []byte) {
			if strings.HasSuffix(r.URL.Path, img.push.Config.Digest.String()) && serveConfig != nil {
				serveConfig(w, content)
				return
			}
			w.Write(content)
		}
		got, err := c.Resolve(ctx, mustNamed(t, f.serve(t)+"/x/app:1"), ocispec.Platform{}, Auth{})
		return got, img, err
	}

	t.Run("config within the limit", func(t *testing.T) {
		got, img, err := resolve(t, nil)
		if err != nil || !bytes.Equal(got.Config, img.blobs[img.push.Config.Digest]) {
			t.Fatalf("resolve: %v", err)
		}
	})
	t.Run("config over the limit", func(t *testing.T) {
		_, _, err := resolve(t, func(w http.ResponseWriter, _ []byte) {
			w.Write(bytes.Repeat([]byte{'x'}, maxConfigSize+1))
		})
		if want := fmt.Sprintf("is larger than %d bytes", maxConfigSize); !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), want) {
			t.Errorf("resolve: %v, want invalid argument: %s", err, want)
		}
	})
	t.Run("layers", func(t *testing.T) {
		got, img, err := resolve(t, nil)
		if err != nil {
			t.Fatal(err)
		}
		desc := img.push.Layers[0]
		desc.Size = 0
		if _, err := c.Blob(ctx, got, desc, Auth{}); !errdefs.IsInvalidArgument(err) {
			t.Errorf("blob of a layer without size: %v, want invalid argument", err)
		}
		desc.Size = -1
		if _, err := c.Blob(ctx, got, desc, Auth{}); !errdefs.IsInvalidArgument(err) {
			t.Errorf("blob of a layer of size -1: %v, want invalid argument", err)
		}
		rc, err := c.Blob(ctx, got, ocispec.Descriptor{Digest: digest.FromBytes(nil)}, Auth{})
		if err != nil {
			t.Fatalf("blob of the empty layer: %v", err)
		}
		if b, err := io.ReadAll(rc); err != nil || len(b) != 0 {
			t.Errorf("the empty layer: %q, %v", b, err)
		}
		rc.Close()
	})
}

// TestReconfigure: mirrors added by Reconfigure serve the next resolve, and
// a bad mirror leaves the settings as they were.
func TestReconfigure(t *testing.T) {
	img := newTestImage(t, "docker.io/library/app:1")
	good := newFake()
	good.put("library/app", "1", img)
	goodHost := good.serve(t)
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()

	c, _ := New(Config{Mirrors: []string{dead.URL}})
	c.dial = dialMap(map[string]string{hubHost + ":443": strings.TrimPrefix(dead.URL, "http://")})
	ctx := context.Background()
	if _, err := c.Resolve(ctx, mustNamed(t, "app:1"), ocispec.Platform{}, Auth{}); err == nil {
		t.Fatal("resolve with a dead mirror and no Docker Hub succeeded")
	}
	if err := c.Reconfigure([]string{"mirror.example"}, nil); !errdefs.IsInvalidArgument(err) {
		t.Errorf("reconfigure with a mirror without a scheme: got %v, want invalid argument", err)
	}
	if err := c.Reconfigure([]string{"http://" + goodHost}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Resolve(ctx, mustNamed(t, "app:1"), ocispec.Platform{}, Auth{}); err != nil {
		t.Fatalf("resolve through the mirror added by Reconfigure: %v", err)
	}
	if good.count("GET /v2/library/app/manifests/1") != 1 {
		t.Errorf("the new mirror was not asked")
	}
}

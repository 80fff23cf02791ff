package api

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/jsonstream"
)

// testServer is a Server on a Unix socket in a temporary directory.
type testServer struct {
	sock string
	b    *fakeBackend
	stop func() error // cancels Serve and returns its result
}

func startServer(t *testing.T, opts Options) *testServer {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "gantry.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Version == "" {
		opts.Version = "test"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	b := newFakeBackend()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- New(b, opts).Serve(ctx, l) }()
	ts := &testServer{sock: sock, b: b}
	var stopped bool
	var result error
	ts.stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			result = <-done
		}
		return result
	}
	t.Cleanup(func() {
		if err := ts.stop(); err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ts
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func (ts *testServer) dial(t *testing.T) net.Conn {
	t.Helper()
	c, err := net.Dial("unix", ts.sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// httpClient talks HTTP over the server's socket.
func (ts *testServer) httpClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", ts.sock)
		},
	}}
}

func (ts *testServer) do(t *testing.T, method, path, body string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://api.moby.localhost"+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := ts.httpClient().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(data)
}

func TestRoutes(t *testing.T) {
	ts := startServer(t, Options{})
	stopped := ts.mustCreate(t, "stopped", `{"Image":"busybox","Cmd":["echo","x"]}`)
	_ = stopped
	tests := []struct {
		name, method, path, body string
		wantStatus               int
		wantBody                 string // exact, unless wantPrefix
		wantPrefix               bool
		wantType                 string
		wantStdHeaders           bool
	}{
		{name: "ping get", method: "GET", path: "/_ping", wantStatus: 200, wantBody: "OK", wantType: "text/plain; charset=utf-8", wantStdHeaders: true},
		{name: "ping head", method: "HEAD", path: "/_ping", wantStatus: 200, wantBody: "", wantType: "text/plain; charset=utf-8", wantStdHeaders: true},
		{name: "ping versioned", method: "GET", path: "/v1.47/_ping", wantStatus: 200, wantBody: "OK", wantType: "text/plain; charset=utf-8", wantStdHeaders: true},
		{name: "version unversioned", method: "GET", path: "/version", wantStatus: 200, wantBody: `{"Platform":{"Name":""},"Version":"test","ApiVersion":"1.47","MinAPIVersion":"1.24","Os":"linux","Arch":"amd64"}` + "\n", wantType: "application/json", wantStdHeaders: true},
		{name: "version 1.24", method: "GET", path: "/v1.24/version", wantStatus: 200, wantBody: `{"Platform"`, wantPrefix: true, wantType: "application/json", wantStdHeaders: true},
		{name: "version too new", method: "GET", path: "/v1.99/version", wantStatus: 400, wantBody: `{"message":"client version 1.99 is too new. Maximum supported API version is 1.47"}` + "\n", wantType: "application/json", wantStdHeaders: true},
		{name: "version too old", method: "GET", path: "/v1.12/version", wantStatus: 400, wantBody: `{"message":"client version 1.12 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version"}` + "\n", wantType: "application/json", wantStdHeaders: true},
		{name: "version 1.9 is older than 1.24", method: "GET", path: "/v1.9/version", wantStatus: 400, wantBody: `{"message":"client version 1.9 is too old`, wantPrefix: true, wantType: "application/json", wantStdHeaders: true},
		{name: "unknown route", method: "GET", path: "/v1.47/plugins", wantStatus: 404, wantBody: `{"message":"page not found"}` + "\n", wantType: "application/json"},
		{name: "unknown unversioned", method: "GET", path: "/foo", wantStatus: 404, wantBody: `{"message":"page not found"}` + "\n", wantType: "application/json"},
		{name: "wrong method", method: "PUT", path: "/containers/json", wantStatus: 404, wantBody: `{"message":"page not found"}` + "\n", wantType: "application/json"},
		{name: "head on get route", method: "HEAD", path: "/version", wantStatus: 404, wantType: "application/json"},
		{name: "image with registry and tag", method: "GET", path: "/images/127.0.0.1:5055/a/b:1/json", wantStatus: 200, wantBody: `{"Id":"sha256:` + hexID("127.0.0.1:5055/a/b:1") + `"`, wantPrefix: true, wantType: "application/json", wantStdHeaders: true},
		{name: "image versioned", method: "GET", path: "/v1.41/images/127.0.0.1:5055/a/b:1/history", wantStatus: 200, wantBody: `[{"Comment":"","Created":0,"CreatedBy":"/bin/sh -c #(nop) CMD","Id":"sha256:` + hexID("127.0.0.1:5055/a/b:1") + `","Size":0,"Tags":["127.0.0.1:5055/a/b:1"]}]` + "\n", wantType: "application/json", wantStdHeaders: true},
		{name: "image missing", method: "GET", path: "/images/nope/json", wantStatus: 404, wantBody: `{"message":"No such image: nope"}` + "\n", wantType: "application/json", wantStdHeaders: true},
		{name: "images list old filter", method: "GET", path: "/images/json?filter=busybox", wantStatus: 200, wantBody: `[{"Containers":0,"Created":0,"Id":"sha256:` + hexID("busybox") + `"`, wantPrefix: true, wantType: "application/json", wantStdHeaders: true},
		{name: "images list none", method: "GET", path: `/images/json?filters={"reference":{"none":true}}`, wantStatus: 200, wantBody: "[]\n", wantType: "application/json", wantStdHeaders: true},
		{name: "images list bad filters", method: "GET", path: `/images/json?filters={bad`, wantStatus: 400, wantBody: `{"message":"invalid filters: invalid character 'b' looking for beginning of object key string"}` + "\n", wantType: "application/json", wantStdHeaders: true},
		{name: "tag", method: "POST", path: "/images/apiprobe/x:latest/tag?repo=docker.io/apiprobe/x&tag=tagged", wantStatus: 201, wantStdHeaders: true},
		{name: "pull of an unknown image", method: "POST", path: "/images/create?fromImage=missing&tag=latest", wantStatus: 404, wantBody: `{"message":"manifest for missing:latest not found: manifest unknown: manifest unknown"}` + "\n", wantType: "application/json", wantStdHeaders: true},
		{name: "import not a tar", method: "POST", path: "/images/create?fromSrc=-&repo=x", body: "junk", wantStatus: 400, wantBody: `{"message":"archive/tar: invalid tar header"}` + "\n", wantType: "application/json", wantStdHeaders: true},
		{name: "import", method: "POST", path: "/images/create?fromSrc=-&repo=me/imp:1", body: "tar:1", wantStatus: 200, wantBody: `{"status":"sha256:` + hexID("tar:1") + `"}` + "\r\n", wantType: "application/json", wantStdHeaders: true},
		{name: "rmi", method: "DELETE", path: "/images/127.0.0.1:5055/a/b:1", wantStatus: 200, wantBody: `[{"Untagged":"127.0.0.1:5055/a/b:1"},{"Deleted":"sha256:` + hexID("127.0.0.1:5055/a/b:1") + `"}]` + "\n", wantType: "application/json", wantStdHeaders: true},
		{name: "rmi in use", method: "DELETE", path: "/images/busybox", wantStatus: 409, wantBody: `{"message":"conflict: unable to remove repository reference \"busybox\" (must force)"}` + "\n", wantType: "application/json", wantStdHeaders: true},
		{name: "create empty body", method: "POST", path: "/containers/create", wantStatus: 400, wantBody: `{"message":"config cannot be empty in order to create a container"}` + "\n", wantType: "application/json", wantStdHeaders: true},
		{name: "create bad json", method: "POST", path: "/containers/create", body: "{", wantStatus: 400, wantBody: `{"message":"invalid create request: unexpected EOF"}` + "\n", wantType: "application/json", wantStdHeaders: true},
		{name: "create missing image", method: "POST", path: "/containers/create", body: `{"Image":"nope"}`, wantStatus: 404, wantBody: `{"message":"No such image: nope"}` + "\n", wantType: "application/json", wantStdHeaders: true},
		{name: "create name conflict", method: "POST", path: "/containers/create?name=stopped", body: `{"Image":"busybox"}`, wantStatus: 409, wantBody: `{"message":"Conflict. The container name \"/stopped\" is already in use"}` + "\n", wantType: "application/json", wantStdHeaders: true},
		{name: "inspect missing", method: "GET", path: "/v1.47/containers/nope/json", wantStatus: 404, wantBody: `{"message":"No such container: nope"}` + "\n", wantType: "application/json", wantStdHeaders: true},
		{name: "stop not running", method: "POST", path: "/containers/stopped/stop", wantStatus: 304, wantBody: "", wantStdHeaders: true},
		{name: "stop bad t", method: "POST", path: "/containers/stopped/stop?t=x", wantStatus: 400, wantBody: `{"message":"invalid value for t: \"x\""}` + "\n", wantType: "application/json", wantStdHeaders: true},
		{name: "kill not running", method: "POST", path: "/containers/stopped/kill", wantStatus: 409, wantBody: `{"message":"Cannot kill container: stopped: Container ` + stopped + ` is not running"}` + "\n", wantType: "application/json", wantStdHeaders: true},
		{name: "resize", method: "POST", path: "/containers/stopped/resize?h=30&w=100", wantStatus: 200, wantBody: "", wantStdHeaders: true},
		{name: "resize bad", method: "POST", path: "/containers/stopped/resize?h=x&w=100", wantStatus: 400, wantType: "application/json", wantBody: `{"message":"invalid height \"x\""}` + "\n", wantStdHeaders: true},
		{name: "wait bad condition", method: "POST", path: "/containers/stopped/wait?condition=never", wantStatus: 400, wantType: "application/json", wantBody: `{"message":"invalid condition: \"never\""}` + "\n", wantStdHeaders: true},
		{name: "wait missing", method: "POST", path: "/containers/nope/wait", wantStatus: 404, wantType: "application/json", wantBody: `{"message":"No such container: nope"}` + "\n", wantStdHeaders: true},
		{name: "wait created", method: "POST", path: "/containers/stopped/wait", wantStatus: 200, wantType: "application/json", wantBody: `{"StatusCode":0}` + "\n", wantStdHeaders: true},
		{name: "logs no stream", method: "GET", path: "/containers/stopped/logs", wantStatus: 400, wantType: "application/json", wantBody: `{"message":"Bad parameters: you must choose at least one stream"}` + "\n", wantStdHeaders: true},
		{name: "logs missing", method: "GET", path: "/containers/nope/logs?stdout=1", wantStatus: 404, wantType: "application/json", wantBody: `{"message":"No such container: nope"}` + "\n", wantStdHeaders: true},
		{name: "ps bad filters", method: "GET", path: "/containers/json?filters={bad", wantStatus: 400, wantType: "application/json", wantBody: `{"message":"invalid filters: invalid character 'b' looking for beginning of object key string"}` + "\n", wantStdHeaders: true},
		{name: "ps", method: "GET", path: "/containers/json", wantStatus: 200, wantType: "application/json", wantBody: "[]\n", wantStdHeaders: true},
		{name: "commit missing", method: "POST", path: "/commit?container=nope", wantStatus: 404, wantType: "application/json", wantBody: `{"message":"No such container: nope"}` + "\n", wantStdHeaders: true},
		{name: "commit", method: "POST", path: "/commit?container=stopped&comment=c", wantStatus: 201, wantType: "application/json", wantBody: `{"Id":"sha256:` + hexID("stoppedc") + `"}` + "\n", wantStdHeaders: true},
		{name: "commit bad body", method: "POST", path: "/commit?container=stopped", body: "[", wantStatus: 400, wantType: "application/json", wantBody: `{"message":"invalid container config: unexpected EOF"}` + "\n", wantStdHeaders: true},
		{name: "attach missing", method: "POST", path: "/containers/nope/attach?stream=1&stdout=1", wantStatus: 404, wantType: "application/json", wantBody: `{"message":"No such container: nope"}` + "\n", wantStdHeaders: true},
		{name: "rename", method: "POST", path: "/containers/stopped/rename?name=stopped", wantStatus: 204, wantStdHeaders: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := ts.do(t, tt.method, tt.path, tt.body)
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d (body %q)", resp.StatusCode, tt.wantStatus, body)
			}
			if tt.wantPrefix {
				if !strings.HasPrefix(body, tt.wantBody) {
					t.Errorf("body = %q, want prefix %q", body, tt.wantBody)
				}
			} else if tt.method != "HEAD" || tt.wantBody != "" {
				if diff := cmp.Diff(tt.wantBody, body); diff != "" && tt.method != "HEAD" {
					t.Errorf("body (-want +got):\n%s", diff)
				}
			}
			if got := resp.Header.Get("Content-Type"); got != tt.wantType {
				t.Errorf("Content-Type = %q, want %q", got, tt.wantType)
			}
			std := map[string]string{"Api-Version": "1.47", "Docker-Experimental": "false", "Ostype": "linux", "Server": "Gantry/test (linux)"}
			for k, v := range std {
				got := resp.Header.Get(k)
				if tt.wantStdHeaders && got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
				if !tt.wantStdHeaders && got != "" {
					t.Errorf("header %s = %q, want none", k, got)
				}
			}
			if got := resp.Header.Get("Builder-Version"); got != "" {
				t.Errorf("Builder-Version = %q, want none", got)
			}
		})
	}
}

func TestPingHeaders(t *testing.T) {
	ts := startServer(t, Options{})
	for _, method := range []string{"GET", "HEAD"} {
		t.Run(method, func(t *testing.T) {
			resp, _ := ts.do(t, method, "/_ping", "")
			got := map[string]string{}
			for _, k := range []string{"Cache-Control", "Pragma", "Content-Length"} {
				got[k] = resp.Header.Get(k)
			}
			want := map[string]string{"Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache", "Content-Length": "2"}
			if method == "HEAD" {
				want["Content-Length"] = "0"
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("headers (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStatusOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"not found", errdefs.ErrNotFound, 404},
		{"wrapped not found", fmt.Errorf("open image: %w", errdefs.ErrNotFound), 404},
		{"invalid argument", errdefs.ErrInvalidArgument.WithMessage("bad"), 400},
		{"failed precondition", errdefs.ErrFailedPrecondition, 400},
		{"conflict", errdefs.ErrConflict, 409},
		{"already exists", errdefs.ErrAlreadyExists, 409},
		{"not modified", errdefs.ErrNotModified, 304},
		{"unauthorized", errdefs.ErrUnauthenticated, 401},
		{"permission denied", errdefs.ErrPermissionDenied, 403},
		{"not implemented", errdefs.ErrNotImplemented, 501},
		{"unavailable", errdefs.ErrUnavailable, 503},
		{"plain", errors.New("boom"), 500},
		{"canceled", context.Canceled, 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := statusOf(tt.err); got != tt.want {
				t.Errorf("statusOf(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

func TestMatchPattern(t *testing.T) {
	tests := []struct {
		name, pattern, path string
		want                string
		ok                  bool
	}{
		{"literal", "/images/json", "/images/json", "", true},
		{"one segment", "/containers/{name}/start", "/containers/abc/start", "abc", true},
		{"one segment, empty", "/containers/{name}/start", "/containers//start", "", false},
		{"multi simple", "/images/{name...}/json", "/images/busybox/json", "busybox", true},
		{"multi registry", "/images/{name...}/json", "/images/127.0.0.1:5055/a/b:1/json", "127.0.0.1:5055/a/b:1", true},
		{"multi digest", "/images/{name...}/json", "/images/a/b@sha256:00/json", "a/b@sha256:00", true},
		{"multi needs a name", "/images/{name...}/json", "/images/json", "", false},
		{"multi suffix differs", "/images/{name...}/json", "/images/a/b/history", "", false},
		{"multi trailing", "/images/{name...}", "/images/a/b:tagged", "a/b:tagged", true},
		{"too long", "/containers/{name}/start", "/containers/a/b/start", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			split := func(p string) []string { return strings.Split(strings.TrimPrefix(p, "/"), "/") }
			got, ok := matchPattern(split(tt.pattern), split(tt.path))
			if got != tt.want || ok != tt.ok {
				t.Errorf("matchPattern(%q, %q) = %q, %v; want %q, %v", tt.pattern, tt.path, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestSplitVersion(t *testing.T) {
	tests := []struct{ name, path, version, rest string }{
		{"versioned", "/v1.41/containers/json", "1.41", "/containers/json"},
		{"unversioned", "/containers/json", "", "/containers/json"},
		{"volumes is not a version", "/volumes/x", "", "/volumes/x"},
		{"bare v", "/v/x", "", "/v/x"},
		{"version only", "/v1.47", "1.47", "/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, rest := splitVersion(tt.path)
			if v != tt.version || rest != tt.rest {
				t.Errorf("splitVersion(%q) = %q, %q; want %q, %q", tt.path, v, rest, tt.version, tt.rest)
			}
		})
	}
}

func TestParseUnixTime(t *testing.T) {
	tests := []struct {
		name, in string
		want     time.Time
		wantErr  bool
	}{
		{"empty", "", time.Time{}, false},
		{"zero", "0", time.Time{}, false},
		{"seconds", "1700000000", time.Unix(1700000000, 0), false},
		{"fraction", "1700000000.5", time.Unix(1700000000, 500000000), false},
		{"nanos", "1700000000.000000001", time.Unix(1700000000, 1), false},
		{"garbage", "yesterday", time.Time{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseUnixTime(tt.in)
			if (err != nil) != tt.wantErr || !got.Equal(tt.want) {
				t.Errorf("parseUnixTime(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestDecodeFilters(t *testing.T) {
	tests := []struct {
		name, in string
		want     Filters
	}{
		{"empty", "", nil},
		{"map form", `{"name":{"web":true}}`, Filters{"name": {"web": true}}},
		{"list form", `{"name":["web","db"]}`, Filters{"name": {"web": true, "db": true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeFilters(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestJSONStream checks the wire form: application/json, one object + CRLF
// per message, each its own flushed chunk.
func TestJSONStream(t *testing.T) {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := newJSONStream(w)
		if s.Started() {
			t.Error("started before the first message")
		}
		_ = s.Write(jsonstream.Message{Stream: "Step 1/1 : FROM busybox"})
		_ = s.Write(jsonstream.Message{Status: "Pulling fs layer", ID: "60e8e4932969", Progress: &jsonstream.Progress{}})
		_ = s.Error(errors.New("returned a non-zero code: 3"), 3)
	})}
	sock := filepath.Join(t.TempDir(), "s.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Close()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprint(c, "POST /build HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	raw, _ := io.ReadAll(c)
	_, body, _ := strings.Cut(string(raw), "\r\n\r\n")
	head := string(raw[:len(raw)-len(body)])
	if !strings.Contains(head, "Content-Type: application/json\r\n") || !strings.Contains(head, "Transfer-Encoding: chunked\r\n") {
		t.Errorf("headers:\n%s", head)
	}
	msgs := []string{
		`{"stream":"Step 1/1 : FROM busybox"}` + "\r\n",
		`{"status":"Pulling fs layer","progressDetail":{},"id":"60e8e4932969"}` + "\r\n",
		`{"errorDetail":{"code":3,"message":"returned a non-zero code: 3"},"error":"returned a non-zero code: 3"}` + "\r\n",
	}
	var want strings.Builder
	for _, m := range msgs {
		fmt.Fprintf(&want, "%x\r\n%s\r\n", len(m), m)
	}
	want.WriteString("0\r\n\r\n")
	if diff := cmp.Diff(want.String(), body); diff != "" {
		t.Errorf("chunked body (-want +got):\n%s", diff)
	}
}

// mustCreate creates a container through the API and returns its ID.
func (ts *testServer) mustCreate(t *testing.T, name, body string) string {
	t.Helper()
	path := "/v1.47/containers/create"
	if name != "" {
		path += "?name=" + name
	}
	resp, data := ts.do(t, "POST", path, body)
	if resp.StatusCode != 201 {
		t.Fatalf("create: %d %s", resp.StatusCode, data)
	}
	const prefix = `{"Id":"`
	id, _, _ := strings.Cut(strings.TrimPrefix(data, prefix), `"`)
	if !strings.HasSuffix(data, `"Warnings":[]}`+"\n") {
		t.Errorf("create body = %q, want Warnings []", data)
	}
	return id
}

// readResponseHead reads a status line and headers from br.
func readResponseHead(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	var head strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("read head: %v (so far %q)", err, head.String())
		}
		head.WriteString(line)
		if line == "\r\n" {
			return head.String()
		}
	}
}

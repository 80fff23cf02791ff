package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/yamux"
)

// fakeExit is a failing RUN, as the builder reports it.
type fakeExit struct{ code int }

func (e fakeExit) Error() string {
	return fmt.Sprintf("The command '/bin/sh -c exit %d' returned a non-zero code: %d", e.code, e.code)
}
func (e fakeExit) ExitCode() int { return e.code }

// Build of the fake backend reads the context and acts on its content:
//
//	parse   a parse error before any output
//	fail    one line of output, then a RUN failing with code 3
//	else    the options it got as a line of JSON, then a result
func (b *fakeBackend) Build(_ context.Context, src io.Reader, opts BuildOptions, out BuildOutput) error {
	data, err := io.ReadAll(src)
	if err != nil {
		return err
	}
	switch string(data) {
	case "parse":
		return errdefs.ErrInvalidArgument.WithMessage("dockerfile parse error line 2: unknown instruction: RUNN")
	case "fail":
		out.Stream("before\n")
		return fakeExit{3}
	}
	j, _ := json.Marshal(opts)
	out.Stream(string(j) + "\n")
	id := "sha256:" + hexID("built")
	out.Aux(id)
	return out.Stream("Successfully built " + id[7:19] + "\n")
}

func TestBuildRoute(t *testing.T) {
	ts := startServer(t, Options{})
	tests := []struct {
		name, query, body string
		status            int
		want              string // the body, exactly
		wantOpts          *BuildOptions
	}{
		{
			name: "options", status: 200,
			query: "t=a%3A1&t=b&dockerfile=other.Dockerfile&buildargs=%7B%22V%22%3A%222%22%2C%22N%22%3Anull%7D&nocache=1&forcerm=1&pull=1&target=second&labels=%7B%22l%22%3A%22v%22%7D&q=1&networkmode=host&shmsize=1024&platform=linux%2Famd64&version=1",
			body:  "ctx",
			wantOpts: &BuildOptions{
				Tags: []string{"a:1", "b"}, Dockerfile: "other.Dockerfile",
				BuildArgs: map[string]*string{"V": ptr("2"), "N": nil}, Labels: map[string]string{"l": "v"},
				Target: "second", NoCache: true, Remove: true, ForceRemove: true, Pull: true, Quiet: true,
				NetworkMode: "host", ShmSize: 1024, Platform: "linux/amd64", RegistryConfig: "e30=",
			},
		},
		{name: "rm=0", query: "rm=0", body: "ctx", status: 200, wantOpts: &BuildOptions{RegistryConfig: "e30="}},
		{name: "parse error is a 400 before the stream", body: "parse", status: 400,
			want: `{"message":"dockerfile parse error line 2: unknown instruction: RUNN"}` + "\n"},
		{name: "a failing RUN ends the stream with its code", body: "fail", status: 200,
			want: `{"stream":"before\n"}` + "\r\n" + `{"errorDetail":{"code":3,"message":"The command '/bin/sh -c exit 3' returned a non-zero code: 3"},"error":"The command '/bin/sh -c exit 3' returned a non-zero code: 3"}` + "\r\n"},
		{name: "bad buildargs", query: "buildargs=%7B", body: "ctx", status: 400},
		{name: "bad shmsize", query: "shmsize=x", body: "ctx", status: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest("POST", "http://api.moby.localhost/v1.41/build?"+tt.query, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-tar")
			req.Header.Set("X-Registry-Config", "e30=")
			resp, err := ts.httpClient().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tt.status, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if tt.want != "" && string(body) != tt.want {
				t.Errorf("body:\n%s\nwant:\n%s", body, tt.want)
			}
			if tt.wantOpts != nil {
				first, rest, _ := strings.Cut(string(body), "\r\n")
				var msg struct{ Stream string }
				if err := json.Unmarshal([]byte(first), &msg); err != nil {
					t.Fatal(err)
				}
				var got BuildOptions
				if err := json.Unmarshal([]byte(msg.Stream), &got); err != nil {
					t.Fatal(err)
				}
				if !tt.wantOpts.Remove && tt.query != "rm=0" {
					tt.wantOpts.Remove = true
				}
				if diff := cmp.Diff(*tt.wantOpts, got); diff != "" {
					t.Errorf("options (-want +got):\n%s", diff)
				}
				wantAux := `{"aux":{"ID":"sha256:` + hexID("built") + `"}}`
				if !strings.HasPrefix(rest, wantAux+"\r\n") {
					t.Errorf("aux message: %q", rest)
				}
			}
		})
	}
}

func TestBuildDockerCLI(t *testing.T) {
	ts := startServer(t, Options{})
	dir := t.TempDir()
	if err := writeFile(dir+"/Dockerfile", "FROM busybox\n"); err != nil {
		t.Fatal(err)
	}
	// The fake fails when the context is "fail"; a real tar never is, so
	// this checks that the CLI prints the stream and exits 0.
	out, errOut, code := dockerCLI(t, ts, "", "build", "-t", "x:1", dir)
	if code != 0 || !strings.Contains(out, "Successfully built") {
		t.Errorf("docker build: code %d\nstdout %s\nstderr %s", code, out, errOut)
	}
}

func writeFile(name, data string) error { return os.WriteFile(name, []byte(data), 0o644) }

// BuildSync of the fake backend reads one line of "sync" from r, answers
// "ok\n" on w, then builds as Build does with that line as the context.
func (b *fakeBackend) BuildSync(ctx context.Context, key string, r io.Reader, w io.Writer, opts BuildOptions, out BuildOutput) error {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, "ok\n"); err != nil {
		return err
	}
	if fw, ok := out.(SSHForwarder); ok && opts.SSH != nil {
		agents, _, err := fw.ForwardSSH()
		if err != nil {
			return err
		}
		c, err := agents.Dial(ctx, opts.SSH[0])
		if err != nil {
			return err
		}
		io.WriteString(c, "ping")
		c.Close() // a yamux stream's Close ends its writes only
		reply, _ := io.ReadAll(c)
		out.Stream("agent " + opts.SSH[0] + " said " + string(reply) + "\n")
	}
	out.Stream("key " + key + "\n")
	return b.Build(ctx, strings.NewReader(strings.TrimSuffix(line, "\n")), opts, out)
}

func TestBuildSyncRoute(t *testing.T) {
	ts := startServer(t, Options{})
	key := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name, query, upgrade, sync string
		want                       string // the answer after the request, exactly
	}{
		{"upgrade", "t=x&context=" + key, "gantry-context-sync", "ctx\n",
			"HTTP/1.1 101 UPGRADED\r\n" + "Content-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n" + "ok\n" +
				`{"stream":"key ` + key + `\n"}` + "\r\n" + `{"stream":"{\"Tags\":[\"x\"],\"Dockerfile\":\"\",\"BuildArgs\":null,\"Labels\":null,\"Target\":\"\",\"NoCache\":false,\"Remove\":true,\"ForceRemove\":false,\"Pull\":false,\"Quiet\":false,\"NetworkMode\":\"\",\"ShmSize\":0,\"Platform\":\"\",\"CacheFrom\":null,\"RegistryConfig\":\"\",\"Secrets\":null}\n"}` + "\r\n" +
				`{"aux":{"ID":"sha256:` + hexID("built") + `"}}` + "\r\n" + `{"stream":"Successfully built ` + hexID("built")[:12] + `\n"}` + "\r\n"},
		{"error after the upgrade", "context=" + key, "gantry-context-sync", "parse\n",
			"HTTP/1.1 101 UPGRADED\r\n" + "Content-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n" + "ok\n" +
				`{"stream":"key ` + key + `\n"}` + "\r\n" + `{"errorDetail":{"message":"dockerfile parse error line 2: unknown instruction: RUNN"},"error":"dockerfile parse error line 2: unknown instruction: RUNN"}` + "\r\n"},
		{"no upgrade", "context=" + key, "", "", "400 invalid: POST /build/sync needs Upgrade: gantry-context-sync"},
		{"bad key", "context=../../etc", "gantry-context-sync", "", `400 invalid: invalid context key "../../etc": want 64 hex digits`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ts.dial(t)
			req := "POST /v1.44/build/sync?" + tc.query + " HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
			if tc.upgrade != "" {
				req += "Connection: Upgrade\r\nUpgrade: " + tc.upgrade + "\r\n"
			}
			io.WriteString(c, req+"\r\n"+tc.sync)
			if tc.sync == "" {
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					t.Fatal(err)
				}
				var e struct{ Message string }
				json.NewDecoder(resp.Body).Decode(&e)
				if got := fmt.Sprintf("%d invalid: %s", resp.StatusCode, e.Message); got != tc.want {
					t.Errorf("got %q, want %q", got, tc.want)
				}
				return
			}
			got, _ := io.ReadAll(c)
			if diff := cmp.Diff(tc.want, string(got)); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBuildSyncSSH: with X-Gantry-Build-SSH, the connection after the sync
// is a yamux session: the build's output on the first stream the server
// opens, an agent's connection on the next with the id as first line. The
// header is refused on POST /build and when malformed, as is the
// Dockerfile's.
func TestBuildSyncSSH(t *testing.T) {
	ts := startServer(t, Options{})
	key := strings.Repeat("ab", 32)
	c := ts.dial(t)
	io.WriteString(c, "POST /v1.44/build/sync?context="+key+" HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"+
		"Connection: Upgrade\r\nUpgrade: gantry-context-sync\r\nX-Gantry-Build-SSH: default\r\n\r\nctx\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	if line, _ := br.ReadString('\n'); line != "ok\n" {
		t.Fatalf("sync answer %q", line)
	}
	cfg := yamux.DefaultConfig()
	cfg.LogOutput = io.Discard
	sess, err := yamux.Client(struct {
		io.Reader
		io.WriteCloser
	}{br, c}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	out, err := sess.AcceptStream()
	if err != nil {
		t.Fatal(err)
	}
	st, err := sess.AcceptStream()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(st)
	if string(got) != "default\nping" {
		t.Errorf("the agent's stream: %q", got)
	}
	io.WriteString(st, "pong")
	st.Close()
	all, _ := io.ReadAll(out)
	if !strings.HasPrefix(string(all), `{"stream":"agent default said pong\n"}`+"\r\n"+`{"stream":"key `+key) || !strings.Contains(string(all), "Successfully built") {
		t.Errorf("output stream:\n%s", all)
	}

	for _, tc := range []struct{ path, name, header, want string }{
		{"/build", SSHHeader, "default", "the X-Gantry-Build-SSH header needs POST /build/sync"},
		{"/build/sync?context=" + key, SSHHeader, "a,,b", `invalid X-Gantry-Build-SSH header: bad agent id ""`},
		{"/build/sync?context=" + key, SSHHeader, "a/b", `invalid X-Gantry-Build-SSH header: bad agent id "a/b"`},
		{"/build", DockerfileHeader, "RlJPTSB4Cg==", "the X-Gantry-Build-Dockerfile header needs POST /build/sync"},
		{"/build/sync?context=" + key, DockerfileHeader, "not base64!", "invalid X-Gantry-Build-Dockerfile header"},
	} {
		req, _ := http.NewRequest(http.MethodPost, "http://x/v1.44"+tc.path, strings.NewReader(""))
		req.Header.Set(tc.name, tc.header)
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "gantry-context-sync")
		resp, err := ts.httpClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e struct{ Message string }
		json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || e.Message != tc.want {
			t.Errorf("%s with %s %q: %d %q, want 400 %q", tc.path, tc.name, tc.header, resp.StatusCode, e.Message, tc.want)
		}
	}
}

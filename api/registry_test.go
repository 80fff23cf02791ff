package api

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/registry"
)

// PullImage of the fake: "missing" and "nope" are unknown before anything is streamed,
// "broken" fails after the first message; anything else streams a pull of
// one layer that reports the credentials' user.
func (b *fakeBackend) PullImage(_ context.Context, opts PullOptions, out ProgressOutput) error {
	switch {
	case strings.HasSuffix(opts.Image, "missing"), strings.HasSuffix(opts.Image, "nope"):
		return errdefs.ErrNotFound.WithMessage("manifest for " + opts.Image + ":" + opts.Tag + " not found: manifest unknown: manifest unknown")
	case opts.Image == "broken":
		out.Write(jsonstream.Message{Status: "Pulling from library/broken", ID: opts.Tag})
		return errdefs.ErrDataLoss.WithMessage("blob sha256:ab has digest sha256:cd")
	}
	out.Write(jsonstream.Message{Status: "Pulling from " + opts.Image, ID: opts.Tag})
	out.Write(jsonstream.Message{Status: "Downloading", ID: "60e8e4932969", Progress: &jsonstream.Progress{Current: 36445, Total: 1068742}})
	return out.Write(jsonstream.Message{Status: "Status: Downloaded newer image for " + opts.Image + " as " + opts.Auth.Username})
}

func (b *fakeBackend) PushImage(_ context.Context, opts PushOptions, out ProgressOutput) error {
	return out.Write(jsonstream.Message{Status: "The push refers to repository [" + opts.Name + "]"})
}

func (b *fakeBackend) Login(_ context.Context, auth registry.AuthConfig) (string, error) {
	if auth.Password != "secret" {
		return "", errdefs.ErrUnauthenticated.WithMessage("login attempt to http://" + auth.ServerAddress + "/v2/ failed with status: 401 Unauthorized")
	}
	return "", nil
}

func TestPullStreamsAndErrors(t *testing.T) {
	ts := startServer(t, Options{})
	auth := base64.URLEncoding.EncodeToString([]byte(`{"username":"me","password":"pw"}`))
	tests := []struct {
		name, query, auth string
		status            int
		body              string
	}{
		{
			name: "pull", query: "fromImage=127.0.0.1%3A5000%2Fa&tag=1", auth: auth, status: 200,
			body: `{"status":"Pulling from 127.0.0.1:5000/a","id":"1"}` + "\r\n" +
				`{"status":"Downloading","progressDetail":{"current":36445,"total":1068742},"id":"60e8e4932969","progress":"[=\u003e                                                 ]  36.45kB/1.069MB"}` + "\r\n" +
				`{"status":"Status: Downloaded newer image for 127.0.0.1:5000/a as me"}` + "\r\n",
		},
		{
			name: "unknown manifest is an HTTP error", query: "fromImage=missing&tag=1", status: 404,
			body: `{"message":"manifest for missing:1 not found: manifest unknown: manifest unknown"}` + "\n",
		},
		{
			name: "failure after the first message ends the stream", query: "fromImage=broken&tag=1", status: 200,
			body: `{"status":"Pulling from library/broken","id":"1"}` + "\r\n" +
				`{"errorDetail":{"message":"blob sha256:ab has digest sha256:cd"},"error":"blob sha256:ab has digest sha256:cd"}` + "\r\n",
		},
		{
			name: "bad auth header", query: "fromImage=a", auth: "%%%", status: 400,
			body: `{"message":"invalid X-Registry-Auth header: illegal base64 data at input byte 0"}` + "\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", "http://api.moby.localhost/v1.41/images/create?"+tt.query, nil)
			if tt.auth != "" {
				req.Header.Set("X-Registry-Auth", tt.auth)
			}
			resp, err := ts.httpClient().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			data, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if diff := cmp.Diff(tt.body, string(data)); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPushRoute(t *testing.T) {
	ts := startServer(t, Options{})
	resp, body := ts.do(t, "POST", "/v1.41/images/127.0.0.1:5055/apiprobe/x/push?tag=1", "")
	if resp.StatusCode != 200 || !strings.Contains(body, `"The push refers to repository [127.0.0.1:5055/apiprobe/x]"`) {
		t.Errorf("push: %d %s", resp.StatusCode, body)
	}
}

func TestLogin(t *testing.T) {
	ts := startServer(t, Options{})
	resp, body := ts.do(t, "POST", "/v1.41/auth", `{"username":"me","password":"secret","serveraddress":"127.0.0.1:5000"}`)
	if resp.StatusCode != 200 || body != `{"Status":"Login Succeeded"}`+"\n" {
		t.Errorf("login: %d %q", resp.StatusCode, body)
	}
	resp, body = ts.do(t, "POST", "/v1.41/auth", `{"username":"me","password":"wrong","serveraddress":"127.0.0.1:5000"}`)
	if resp.StatusCode != 401 || !strings.Contains(body, "failed with status: 401 Unauthorized") {
		t.Errorf("wrong password: %d %q", resp.StatusCode, body)
	}
}

package integration

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/moby/moby/client"
)

func TestPing(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name, method, path, body string
	}{
		{"GET", http.MethodGet, "/_ping", "OK"},
		{"HEAD", http.MethodHead, "/_ping", ""},
		{"GET versioned", http.MethodGet, "/v1.41/_ping", "OK"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, h, body := e.api(t, tc.method, tc.path, nil)
			if status != http.StatusOK || body != tc.body {
				t.Fatalf("%s %s = %d %q, want 200 %q", tc.method, tc.path, status, body, tc.body)
			}
			if h.Get("Api-Version") == "" || h.Get("Ostype") != "linux" {
				t.Errorf("headers Api-Version=%q Ostype=%q, want a version and linux", h.Get("Api-Version"), h.Get("Ostype"))
			}
			if !e.External && h.Get("Api-Version") != "1.47" {
				t.Errorf("Api-Version = %q, want 1.47", h.Get("Api-Version"))
			}
		})
	}
}

func TestUnknownRoute(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/nosuch/route", "/v1.41/nosuch/route"} {
		status, h, body := e.api(t, http.MethodGet, path, nil)
		if status != http.StatusNotFound || apiMessage(t, body) != "page not found" {
			t.Errorf("GET %s = %d %q, want 404 page not found", path, status, body)
		}
		if !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
			t.Errorf("GET %s Content-Type = %q, want application/json", path, h.Get("Content-Type"))
		}
	}
}

func TestVersionInfo(t *testing.T) {
	e := newEnv(t)
	ver := e.mustDocker(t, "version", "--format", "{{.Server.APIVersion}}|{{.Server.Os}}|{{.Server.Arch}}")
	parts := strings.Split(ver, "|")
	if len(parts) != 3 || parts[0] == "" || parts[1] != "linux" || parts[2] == "" {
		t.Fatalf("docker version = %q, want APIVersion|linux|arch", ver)
	}
	if !e.External && parts[0] != "1.47" {
		t.Errorf("server API version = %q, want 1.47", parts[0])
	}
	// Versioned paths answer the same as unversioned ones.
	for _, path := range []string{"/version", "/v1.24/version", "/v1.41/version"} {
		status, _, body := e.api(t, http.MethodGet, path, nil)
		var v struct{ ApiVersion, MinAPIVersion, Os string }
		if status != http.StatusOK || json.Unmarshal([]byte(body), &v) != nil || v.Os != "linux" || v.ApiVersion == "" {
			t.Errorf("GET %s = %d %s", path, status, body)
		}
	}

	info := e.mustDocker(t, "info", "--format", "{{.OSType}}|{{.Images}}|{{.DockerRootDir}}")
	parts = strings.Split(info, "|")
	if len(parts) != 3 || parts[0] != "linux" || parts[1] == "0" {
		t.Fatalf("docker info = %q, want linux|<images>0|root", info)
	}
	if !e.External && (parts[1] != "1" || parts[2] != e.Root) {
		t.Errorf("docker info Images|DockerRootDir = %s|%s, want 1|%s", parts[1], parts[2], e.Root)
	}

	c := e.client(t)
	ctx := context.Background()
	if _, err := c.Ping(ctx, client.PingOptions{}); err != nil {
		t.Errorf("Go client Ping: %v", err)
	}
	if v, err := c.ServerVersion(ctx, client.ServerVersionOptions{}); err != nil || v.APIVersion == "" {
		t.Errorf("Go client ServerVersion = %+v, %v", v, err)
	}
	if i, err := c.Info(ctx, client.InfoOptions{}); err != nil || i.Info.Images < 1 {
		t.Errorf("Go client Info: Images %d, %v", i.Info.Images, err)
	}
}

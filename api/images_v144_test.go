package api

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
)

// TestImageInspectContainerConfig: below API 1.45 an image inspect answer
// has ContainerConfig, from 1.45 on it has none, as dockerd's, but for
// docker-compose 1.29, which reads its Volumes on every recreate.
func TestImageInspectContainerConfig(t *testing.T) {
	ts := startServer(t, Options{APIVersion: "1.47", MinAPIVersion: "1.24"})
	ts.b.images["busybox"].Config = &dockerspec.DockerOCIImageConfig{}
	ts.b.images["busybox"].Config.Volumes = map[string]struct{}{"/data": {}}
	ts.b.images["busybox"].Config.Cmd = []string{"sh"}
	for _, tt := range []struct {
		version, agent string
		want           bool
	}{{"1.38", "", true}, {"1.44", "", true}, {"1.45", "", false}, {"1.47", "Docker-Client/28.2.2 (linux)", false}, {"1.47", "docker-compose/1.29.2 docker-py/5.0.3 Linux/6.18", true}} {
		req, err := http.NewRequest("GET", "http://api.moby.localhost/v"+tt.version+"/images/busybox/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("User-Agent", tt.agent)
		resp, err := ts.httpClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		body := string(b)
		if resp.StatusCode != 200 {
			t.Fatalf("v%s: %d %s", tt.version, resp.StatusCode, body)
		}
		var got map[string]json.RawMessage
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatal(err)
		}
		raw, ok := got["ContainerConfig"]
		if ok != tt.want {
			t.Errorf("v%s: ContainerConfig present %v, want %v: %s", tt.version, ok, tt.want, body)
			continue
		}
		if !ok {
			continue
		}
		var cc struct {
			Volumes map[string]struct{}
			Cmd     []string
		}
		if err := json.Unmarshal(raw, &cc); err != nil {
			t.Fatal(err)
		}
		if _, ok := cc.Volumes["/data"]; !ok || len(cc.Cmd) != 1 {
			t.Errorf("v%s: ContainerConfig %s, want the image's volumes and cmd", tt.version, raw)
		}
		if _, ok := got["Id"]; !ok {
			t.Errorf("v%s: the image's own fields are missing: %s", tt.version, body)
		}
	}
}

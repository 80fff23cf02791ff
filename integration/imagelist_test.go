package integration

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// TestImageListVersionsAndSharedSize: GET /images/json against a real
// store, shaped by the API version as dockerd shapes it: VirtualSize
// (= Size) below 1.44 only; and from 1.42 on, shared-size=1 gives each image
// the size of its layers that another image has too (-1 without it).
func TestImageListVersionsAndSharedSize(t *testing.T) {
	e := newEnv(t)
	ref := name("shared") + ":1"
	e.mustBuild(t, "docker", "-t", ref, writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo own > /own\n"}))
	code, _, body := e.api(t, "GET", "/version", nil)
	if code != http.StatusOK {
		t.Fatalf("GET /version: %d %s", code, body)
	}
	var v struct{ APIVersion string }
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	// list returns the entries of busybox:latest and ref.
	list := func(path string) (busybox, built map[string]json.RawMessage) {
		t.Helper()
		code, _, body := e.api(t, "GET", path, nil)
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, code, body)
		}
		var entries []map[string]json.RawMessage
		if err := json.Unmarshal([]byte(body), &entries); err != nil {
			t.Fatalf("GET %s: %v: %s", path, err, body)
		}
		for _, en := range entries {
			var tags []string
			_ = json.Unmarshal(en["RepoTags"], &tags)
			for _, tag := range tags {
				switch tag {
				case "busybox:latest":
					busybox = en
				case ref:
					built = en
				}
			}
		}
		if busybox == nil || built == nil {
			t.Fatalf("GET %s: no busybox:latest or %s in %s", path, ref, body)
		}
		return busybox, built
	}
	for _, version := range []string{"1.41", "1.43", "1.44", "1.47"} {
		if versionLess(v.APIVersion, version) {
			continue
		}
		_, built := list("/v" + version + "/images/json")
		vs, ok := built["VirtualSize"]
		if want := versionLess(version, "1.44"); ok != want {
			t.Errorf("v%s: VirtualSize present %v, want %v", version, ok, want)
		}
		if ok && string(vs) != string(built["Size"]) {
			t.Errorf("v%s: VirtualSize %s, Size %s", version, vs, built["Size"])
		}
		if string(built["SharedSize"]) != "-1" {
			t.Errorf("v%s: SharedSize %s without shared-size, want -1", version, built["SharedSize"])
		}
	}
	if versionLess(v.APIVersion, "1.42") {
		t.Logf("API %s has no shared-size", v.APIVersion)
		return
	}
	busybox, built := list("/v1.42/images/json?shared-size=1")
	// busybox's one layer is under both images; the built image's own is
	// under it alone.
	if string(busybox["SharedSize"]) != string(busybox["Size"]) || string(built["SharedSize"]) != string(busybox["Size"]) {
		t.Errorf("SharedSize: busybox %s, built %s; want busybox's Size %s for both", busybox["SharedSize"], built["SharedSize"], busybox["Size"])
	}
	if string(built["Size"]) == string(busybox["Size"]) {
		t.Errorf("the built image's Size %s is busybox's: its own layer is not counted", built["Size"])
	}
}

// versionLess: API version a is older than b ("1.9" < "1.41").
func versionLess(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			return x < y
		}
	}
	return false
}

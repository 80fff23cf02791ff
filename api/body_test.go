package api

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestBodyLimit: JSON bodies past 16 MiB answer 413 naming the limit, on
// every endpoint that decodes one, and the client reads the answer (not a
// broken pipe); 1 MiB of environment passes.
func TestBodyLimit(t *testing.T) {
	ts := startServer(t, Options{})
	huge := strings.Repeat("x", 17<<20)
	const want = `{"message":"request body is larger than the limit of 16777216 bytes (16 MiB)"}` + "\n"
	for _, path := range []string{"/containers/create", "/volumes/create", "/networks/create", "/commit?container=c", "/auth", "/containers/c/exec"} {
		resp, body := ts.do(t, "POST", path, `{"Image":"`+huge+`"}`)
		if resp.StatusCode != http.StatusRequestEntityTooLarge || body != want {
			t.Errorf("POST %s with 17 MiB: %d %.200s", path, resp.StatusCode, body)
		}
	}
	env := strings.Repeat("y", 1<<20)
	resp, body := ts.do(t, "POST", "/containers/create", fmt.Sprintf(`{"Image":"busybox","Cmd":["true"],"Env":["A=%s"]}`, env))
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("create with 1 MiB of environment: %d %.200s", resp.StatusCode, body)
	}
}

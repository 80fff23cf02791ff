package integration

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestBuildDaemonKilled stops gantryd while a build's RUN step runs. At
// SIGTERM the step is killed before gantryd exits, as a build cannot
// outlive it. At SIGKILL the step's process outlives it, and the next
// gantryd kills it and deletes its runtime state. Either way the next
// start removes the image of the build's finished step and leaves nothing
// mounted or staged. (The step used to run on for good, its runc state
// "running", its snapshot gone from under it.)
func TestBuildDaemonKilled(t *testing.T) {
	e := newEnv(t)
	e.needGantryd(t)
	for _, sig := range []string{"SIGTERM", "SIGKILL"} {
		t.Run(sig, func(t *testing.T) {
			before := e.allImageIDs(t)
			rnd := randHex(6)
			marker := "started-" + rnd
			body := tarOf(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo " + rnd + " > /first\nRUN echo " + marker + " && sleep 1000 && echo " + rnd + "\n"})
			conn, err := net.Dial("unix", strings.TrimPrefix(e.Host, "unix://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			fmt.Fprintf(conn, "POST /v1.41/build?rm=1 HTTP/1.1\r\nHost: d\r\nContent-Type: application/x-tar\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
			conn.SetReadDeadline(time.Now().Add(time.Minute))
			var seen strings.Builder
			found := false
			for sc := bufio.NewScanner(conn); sc.Scan(); {
				seen.WriteString(sc.Text() + "\n")
				if strings.Contains(sc.Text(), marker+`\n`) {
					found = true
					break
				}
			}
			if !found {
				t.Fatalf("the RUN step did not start within a minute:\n%s", seen.String())
			}
			step := "sleep 1000 && echo " + rnd
			if sig == "SIGTERM" {
				e.stopDaemon(t)
				if p := processesWith(step); len(p) > 0 {
					t.Errorf("the RUN step's process outlived gantryd's SIGTERM:\n%s", strings.Join(p, "\n"))
				}
			} else {
				e.killDaemon(t)
				if len(processesWith(step)) == 0 {
					t.Fatal("the RUN step's process died with gantryd: the test shows nothing")
				}
			}
			conn.Close()

			e.startDaemon(t)
			poll(t, 10*time.Second, "the RUN step's process is killed", func() (bool, string) {
				p := processesWith(step)
				return len(p) == 0, strings.Join(p, "\n")
			})
			runcRoot := filepath.Join(e.d.runDir, "x", "runc")
			if out, err := exec.Command("runc", "--root", runcRoot, "list", "-q").CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
				t.Errorf("runtime states left under %s (%v):\n%s", runcRoot, err, out)
			}
			if diff := cmp.Diff(before, e.allImageIDs(t)); diff != "" {
				t.Errorf("images after the restart (-before +after):\n%s", diff)
			}
			if m := e.leftoverMounts(); len(m) > 0 {
				t.Errorf("mounted under the data root: %q", m)
			}
			if ents, _ := os.ReadDir(filepath.Join(e.Root, "tmp")); len(ents) > 0 {
				t.Errorf("%d entries left in the data root's tmp", len(ents))
			}
			// The daemon builds the same step again.
			dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo " + rnd + " > /first\n"})
			e.mustBuild(t, "docker", dir)
		})
	}
}

package api

import (
	"os/exec"
	"strings"
	"testing"
)

// TestPythonSDK runs a short script with the Python docker SDK (skips when
// it is not installed): list calls, filters in the SDK's list form, and a
// run whose output and exit code come back through attach and wait.
func TestPythonSDK(t *testing.T) {
	if err := exec.Command("python3", "-c", "import docker").Run(); err != nil {
		t.Skip("python3 docker SDK not installed")
	}
	ts := startServer(t, Options{})
	script := `
import docker, sys
c = docker.DockerClient(base_url="unix://" + sys.argv[1])
print("version", c.version()["ApiVersion"])
print("images", sorted(t for i in c.images.list() for t in i.tags))
print("run", c.containers.run("busybox", ["echo", "from", "python"]).decode().strip())
try:
    c.containers.run("busybox", ["exit", "4"])
except docker.errors.ContainerError as e:
    print("exit", e.exit_status)
print("ps", len(c.containers.list(all=True, filters={"status": "exited"})))
try:
    c.containers.get("nope")
except docker.errors.NotFound as e:
    print("notfound", e.explanation)
`
	out, err := exec.Command("python3", "-c", script, ts.sock).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	for _, want := range []string{
		"version 1.47",
		"images ['127.0.0.1:5055/a/b:1', 'apiprobe/x:latest', 'busybox', 'busybox:latest']",
		"run from python",
		"exit 4",
		"ps 2",
		"notfound No such container: nope",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

package integration

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// pythonWorkflow drives the daemon with the Python Docker SDK; every check
// is an assert, so a failure prints a traceback and exits non-zero.
const pythonWorkflow = `
import sys, docker
busybox_tar, repo = sys.argv[1], sys.argv[2]
c = docker.from_env(timeout=120)
assert c.ping() is True
assert c.version()["Os"] == "linux"
assert c.info()["Images"] >= 1

# import with changes
with open(busybox_tar, "rb") as f:
    out = c.api.import_image_from_data(f.read(), repository=repo, tag="imp", changes=['CMD ["echo","from-py"]'])
img = c.images.get(repo + ":imp")
assert img.attrs["Config"]["Cmd"] == ["echo", "from-py"], img.attrs["Config"]
assert repo + ":imp" in img.tags, img.tags

# run attached, removed
assert c.containers.run(repo + ":imp", remove=True) == b"from-py\n"
assert c.containers.run("busybox", ["sh", "-c", "echo $A; id -u; pwd"], environment={"A": "b"}, user="nobody", working_dir="/tmp", remove=True) == b"b\n65534\n/tmp\n"

# non-zero exit raises ContainerError with the code
try:
    c.containers.run("busybox", ["sh", "-c", "echo bad >&2; exit 3"], remove=True)
    raise AssertionError("no ContainerError")
except docker.errors.ContainerError as e:
    assert e.exit_status == 3, e.exit_status

# detached, wait, logs, labels, list filters, commit
ctr = c.containers.run("busybox", ["sh", "-c", "echo data > /d; echo logged"], detach=True, name=repo.replace("/", "-") + "-ctr", labels={"gt": "py"})
assert ctr.wait(timeout=60)["StatusCode"] == 0
assert ctr.logs() == b"logged\n", ctr.logs()
assert [x.id for x in c.containers.list(all=True, filters={"label": "gt=py", "status": "exited"})] == [ctr.id]
ctr.reload()
assert ctr.status == "exited" and ctr.attrs["State"]["ExitCode"] == 0
new = ctr.commit(repository=repo, tag="committed", changes=['CMD ["cat","/d"]'], message="py commit")
assert c.containers.run(new.id, remove=True) == b"data\n"
assert new.history()[0]["Comment"] == "py commit", new.history()[0]

# errors
try:
    c.images.get("nosuch-gt:1")
    raise AssertionError("no ImageNotFound")
except docker.errors.ImageNotFound:
    pass
try:
    c.containers.get("nosuch-gt")
    raise AssertionError("no NotFound")
except docker.errors.NotFound:
    pass
user = c.containers.create(repo + ":committed")
try:
    c.images.remove(repo + ":committed")
    raise AssertionError("no conflict removing an image in use")
except docker.errors.APIError as e:
    assert e.status_code == 409, e
user.remove()

# long-running: stop, remove
run = c.containers.run("busybox", ["sleep", "100"], detach=True)
run.stop(timeout=1)
run.reload()
assert run.attrs["State"]["ExitCode"] == 137, run.attrs["State"]
run.remove()
ctr.remove()
c.images.remove(repo + ":committed")
c.images.remove(repo + ":imp")
print("python workflow ok")
`

func TestPythonSDK(t *testing.T) {
	e := newEnv(t)
	r := e.python(t, pythonWorkflow, busyboxTar, name("py"))
	if r.Code != 0 || r.Stdout != "python workflow ok\n" {
		t.Errorf("python SDK workflow:\n%s", r)
	}
}

func TestGoClient(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	n := name("goclient")
	created, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: n,
		Config: &container.Config{
			Image:      "busybox",
			Cmd:        []string{"sh", "-c", "echo out $FOO; pwd >&2; exit 2"},
			Env:        []string{"FOO=bar"},
			WorkingDir: "/tmp",
			Labels:     map[string]string{"gt": "go"},
		},
		HostConfig: &container.HostConfig{NetworkMode: "none"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !containerIDRe.MatchString(created.ID) {
		t.Fatalf("create returned ID %q", created.ID)
	}
	_, err = c.ContainerCreate(ctx, client.ContainerCreateOptions{Name: n, Config: &container.Config{Image: "busybox", Cmd: []string{"true"}}})
	if !cerrdefs.IsConflict(err) {
		t.Errorf("create with a name in use = %v, want a conflict (409)", err)
	}
	_, err = c.ContainerCreate(ctx, client.ContainerCreateOptions{Config: &container.Config{Image: "nosuch-gt:1", Cmd: []string{"true"}}})
	if !cerrdefs.IsNotFound(err) || !strings.Contains(err.Error(), "No such image: nosuch-gt:1") {
		t.Errorf("create from a missing image = %v, want 404 No such image", err)
	}

	wait := c.ContainerWait(ctx, created.ID, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	if _, err := c.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case res := <-wait.Result:
		if res.StatusCode != 2 {
			t.Errorf("wait status = %d, want 2", res.StatusCode)
		}
	case err := <-wait.Error:
		t.Fatalf("wait: %v", err)
	}
	// not-running on an exited container answers at once.
	wait = c.ContainerWait(ctx, created.ID, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	select {
	case res := <-wait.Result:
		if res.StatusCode != 2 {
			t.Errorf("wait not-running status = %d, want 2", res.StatusCode)
		}
	case err := <-wait.Error:
		t.Fatalf("wait not-running: %v", err)
	}

	logs, err := c.ContainerLogs(ctx, created.ID, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if _, err := stdcopy.StdCopy(&stdout, &stderr, logs); err != nil {
		t.Fatalf("logs are not a multiplexed stream: %v", err)
	}
	logs.Close()
	if stdout.String() != "out bar\n" || stderr.String() != "/tmp\n" {
		t.Errorf("logs stdout %q stderr %q", stdout.String(), stderr.String())
	}

	list, err := c.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", "gt=go")})
	if err != nil || len(list.Items) != 1 || list.Items[0].ID != created.ID || list.Items[0].Names[0] != "/"+n || list.Items[0].State != "exited" {
		t.Errorf("ContainerList label=gt=go = %+v, %v", list.Items, err)
	}

	commit, err := c.ContainerCommit(ctx, created.ID, client.ContainerCommitOptions{Reference: n + ":v1", Comment: "go", Changes: []string{`CMD ["cat","/etc/hostname"]`}})
	if err != nil || !imageIDRe.MatchString(commit.ID) {
		t.Fatalf("ContainerCommit = %+v, %v", commit, err)
	}
	img, err := c.ImageInspect(ctx, n+":v1")
	if err != nil || img.ID != commit.ID || img.Comment != "go" || strings.Join(img.Config.Cmd, " ") != "cat /etc/hostname" {
		t.Errorf("ImageInspect of the commit = %+v, %v", img.InspectResponse, err)
	}

	// removed condition: wait returns once --rm-like removal happens.
	wait = c.ContainerWait(ctx, created.ID, client.ContainerWaitOptions{Condition: container.WaitConditionRemoved})
	if _, err := c.ContainerRemove(ctx, created.ID, client.ContainerRemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case res := <-wait.Result:
		if res.StatusCode != 2 {
			t.Errorf("wait removed status = %d, want 2", res.StatusCode)
		}
	case err := <-wait.Error:
		t.Errorf("wait removed: %v", err)
	}
	if _, err := c.ContainerInspect(ctx, created.ID, client.ContainerInspectOptions{}); !cerrdefs.IsNotFound(err) {
		t.Errorf("inspect after remove = %v, want not found", err)
	}
	if _, err := os.Stat(busyboxTar); err != nil {
		t.Fatal(err)
	}
}

package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEvents drives `docker events` and the Python SDK's client.events():
// a container's life replayed with --since/--until in dockerd's order and
// shape (die with its exit code, legacy status/id/from), a live stream
// narrowed by filters that delivers a die as it happens, network and
// volume events, and dockerd's error for an unknown filter.
func TestEvents(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	since := fmt.Sprintf("%d.%09d", now.Unix(), now.Nanosecond()) // after the harness's busybox import

	// A live stream, filtered: only the die of one container.
	ctr := name("ev")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", "events", "--format", "{{json .}}", "--filter", "container="+ctr, "--filter", "event=die")
	cmd.Env = e.clientEnv()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Skip(err)
	}
	defer func() { cancel(); cmd.Wait() }()
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	time.Sleep(300 * time.Millisecond) // the stream is open

	vol, netName := name("ev-vol"), name("ev-net")
	e.mustDocker(t, "volume", "create", vol)
	e.mustDocker(t, "network", "create", netName)
	if r := e.docker(t, "run", "--name", ctr, "--label", "tier=front", "--network", netName, "-v", vol+":/data", "busybox", "sh", "-c", "exit 3"); r.Code != 3 {
		t.Fatalf("docker run: %s", r)
	}
	e.mustDocker(t, "commit", ctr, ctr+"-img")
	e.mustDocker(t, "rmi", ctr+"-img")
	e.mustDocker(t, "rename", ctr, ctr+"-b")
	e.mustDocker(t, "rm", ctr+"-b")
	e.mustDocker(t, "network", "rm", netName)
	e.mustDocker(t, "volume", "rm", vol)

	select {
	case line := <-lines:
		var m struct {
			Status, ID, From string
			Type, Action     string
			Actor            struct{ Attributes map[string]string }
		}
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("streamed event %q: %v", line, err)
		}
		if m.Type != "container" || m.Action != "die" || m.Status != "die" || m.From != "busybox" ||
			m.Actor.Attributes["exitCode"] != "3" || m.Actor.Attributes["name"] != ctr || m.Actor.Attributes["tier"] != "front" {
			t.Errorf("streamed event: %s", line)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no die event streamed")
	}
	select {
	case line, ok := <-lines:
		if ok {
			t.Errorf("an event the filter excludes was streamed: %s", line)
		}
	case <-time.After(200 * time.Millisecond):
	}

	// The history: what happened, in order, then the end at --until.
	until := fmt.Sprint(time.Now().Unix() + 1)
	hist := e.mustDocker(t, "events", "--since", since, "--until", until, "--format", "{{.Type}} {{.Action}}")
	got := strings.Split(hist, "\n")
	want := []string{
		"volume create", "network create",
		"volume create", // dockerd says so again when a container uses it
		"container create", "container attach", "network connect", "volume mount", "container start",
		"container die", "network disconnect", "volume unmount",
		"image tag", "container commit", "image untag", "image delete",
		"container rename", "container destroy", "network destroy", "volume destroy",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("docker events --since --until:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	r := e.docker(t, "events", "--filter", "colour=red", "--until", until)
	if r.Code == 0 || !strings.Contains(r.Stderr, "invalid filter 'colour'") {
		t.Errorf("docker events with an unknown filter:\n%s", r)
	}

	py := e.python(t, `
import sys, docker
c = docker.from_env(timeout=60)
evs = list(c.events(since=int(sys.argv[1]), until=int(sys.argv[2]), decode=True, filters={"type": "network"}))
assert [e["Action"] for e in evs] == ["create", "connect", "disconnect", "destroy"], evs
assert all(e["Actor"]["Attributes"]["name"] == sys.argv[3] for e in evs), evs
`, fmt.Sprint(now.Unix()-1), until, netName)
	if py.Code != 0 {
		t.Errorf("python SDK events:\n%s", py)
	}
}

// TestEventsOOM: a container whose memory limit the OOM killer enforces
// gives an oom event before its die, and State.OOMKilled, as dockerd.
func TestEventsOOM(t *testing.T) {
	e := newEnv(t)
	since := fmt.Sprint(time.Now().Unix() - 1)
	n := name("oom")
	r := e.docker(t, "run", "--name", n, "-m", "16m", "--memory-swap", "16m", "busybox", "sh", "-c", "tail /dev/zero")
	if r.Code != 137 {
		t.Fatalf("a container past its memory limit: %s", r)
	}
	if got := e.inspectField(t, n, "{{.State.OOMKilled}}"); got != "true" {
		t.Errorf("State.OOMKilled = %s", got)
	}
	got := e.mustDocker(t, "events", "--since", since, "--until", fmt.Sprint(time.Now().Unix()+1), "--filter", "container="+n, "--filter", "event=oom", "--filter", "event=die", "--format", "{{.Action}}")
	if got != "oom\ndie" {
		t.Errorf("events: %q, want oom then die", got)
	}
}

// TestImageEvents: pull, push, tag, untag, delete, import, save and load
// are image events, with dockerd's actors: the reference for pull and
// push, the image ID with the new name for tag, the image ID otherwise.
func TestImageEvents(t *testing.T) {
	e := newEnv(t)
	reg := startRegistry(t, e, false)
	now := time.Now()
	since := fmt.Sprintf("%d.%09d", now.Unix(), now.Nanosecond())
	id := e.inspectField(t, "busybox", "{{.Id}}")
	ref := reg.Host + "/" + name("evimg") + ":1"
	e.mustDocker(t, "tag", "busybox", ref)
	e.mustDocker(t, "push", ref)
	e.mustDocker(t, "rmi", ref)
	e.mustDocker(t, "pull", ref)
	archive := filepath.Join(t.TempDir(), "img.tar")
	e.mustDocker(t, "save", "-o", archive, ref)
	e.mustDocker(t, "rmi", ref)
	e.mustDocker(t, "load", "-i", archive)
	e.mustDocker(t, "rmi", ref)
	// An import of a filesystem tar.
	layerTar := filepath.Join(t.TempDir(), "fs.tar")
	if err := exec.Command("tar", "-C", t.TempDir(), "-cf", layerTar, ".").Run(); err != nil {
		t.Fatal(err)
	}
	imported := e.mustDocker(t, "import", layerTar)
	e.mustDocker(t, "rmi", imported)

	got := e.mustDocker(t, "events", "--since", since, "--until", fmt.Sprint(time.Now().Unix()+1), "--filter", "type=image", "--format", "{{.Action}} {{.Actor.ID}} {{.Actor.Attributes.name}}")
	want := strings.Join([]string{
		"tag " + id + " " + ref,
		"push " + ref + " " + ref,
		"untag " + id + " " + id, // the tag and the repository digest the push gave, as docker rmi says
		"untag " + id + " " + id,
		"pull " + ref + " " + ref,
		"save " + id + " " + id,
		"untag " + id + " " + id,
		"untag " + id + " " + id,
		"load " + id + " " + id,
		"untag " + id + " " + id,
		"import " + imported + " " + imported,
		"delete " + imported + " " + imported,
	}, "\n")
	if got != want {
		t.Errorf("image events:\n%s\nwant:\n%s", got, want)
	}
}

// TestEventsOfDailyVerbs: pause, unpause, update, top, export, docker cp
// both ways and exec are container events, and each prune is an event of
// its kind with the space reclaimed, in dockerd's shape (exec_create: the
// program and its arguments after a space each).
func TestEventsOfDailyVerbs(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	since := fmt.Sprintf("%d.%09d", now.Unix(), now.Nanosecond())
	ctr := name("evd")
	e.cleanupVolumes(t, []string{ctr}, nil)
	e.mustDocker(t, "run", "-d", "--name", ctr, "busybox", "sleep", "300")
	e.mustDocker(t, "pause", ctr)
	e.mustDocker(t, "unpause", ctr)
	e.mustDocker(t, "update", "--cpu-shares", "512", ctr)
	e.mustDocker(t, "top", ctr)
	e.mustDocker(t, "exec", ctr, "true")
	local := filepath.Join(t.TempDir(), "passwd")
	e.mustDocker(t, "cp", ctr+":/etc/passwd", local)
	e.mustDocker(t, "cp", local, ctr+":/tmp/passwd")
	if r := e.run(t, nil, "sh", "-c", "docker export "+ctr+" >/dev/null"); r.Code != 0 {
		t.Fatalf("docker export:\n%s", r)
	}
	until := fmt.Sprint(time.Now().Unix() + 1)
	got := e.mustDocker(t, "events", "--since", since, "--until", until, "--filter", "container="+ctr, "--format", "{{.Action}}")
	want := []string{"create", "start", "pause", "unpause", "update", "top", "exec_create: true ", "exec_start: true ", "exec_die", "archive-path", "extract-to-dir", "export"}
	if got != strings.Join(want, "\n") {
		t.Errorf("container events:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}

	// Each prune, narrowed by a label or a time no object passes.
	now = time.Now()
	since = fmt.Sprintf("%d.%09d", now.Unix(), now.Nanosecond())
	gone := name("evd-gone")
	e.mustDocker(t, "run", "--name", gone, "--label", "evd="+gone, "busybox", "sh", "-c", "echo 12345 > /f")
	e.mustDocker(t, "container", "prune", "-f", "--filter", "label=evd="+gone)
	e.mustDocker(t, "image", "prune", "-f", "--filter", "label=evd="+gone)
	e.mustDocker(t, "network", "prune", "-f", "--filter", "label=evd="+gone)
	e.mustDocker(t, "volume", "prune", "-f", "--filter", "label=evd="+gone)
	e.mustDocker(t, "builder", "prune", "-f", "--filter", "until=240h")
	until = fmt.Sprint(time.Now().Unix() + 1)
	got = e.mustDocker(t, "events", "--since", since, "--until", until, "--filter", "event=prune", "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.reclaimed}}")
	want = []string{"container prune 6", "image prune 0", "network prune 0", "volume prune 0", "builder prune 0"}
	if got != strings.Join(want, "\n") {
		t.Errorf("prune events:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}

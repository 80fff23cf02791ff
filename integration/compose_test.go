package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The Compose v5 plugin (docker compose), built from source at a pinned
// version by scripts/compose.sh (.ci/run runs it), drives these tests. Each
// runs the same way against dockerd 20.10 with
// GANTRY_TEST_DAEMON=/usr/sbin/dockerd.

// composeProject is one compose project of a test: a directory holding its
// files and a project name of its own.
type composeProject struct {
	e    *env
	dir  string
	name string
}

// newComposeProject links the Compose v5 plugin into e's DOCKER_CONFIG and
// writes files (path relative to the project directory -> content) into a
// new project directory; compose.yaml is among them. The project is taken
// down (down -v) when the test ends.
func newComposeProject(t *testing.T, e *env, files map[string]string) *composeProject {
	t.Helper()
	out, err := exec.Command("../scripts/compose.sh", "--check").Output()
	if err != nil {
		t.Skip("the Compose v5 plugin is not built: run scripts/compose.sh (.ci/run does)")
	}
	plugins := filepath.Join(e.cfgDir, "cli-plugins")
	if err := os.MkdirAll(plugins, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(plugins, "docker-compose")
	if _, err := os.Lstat(link); err != nil {
		if err := os.Symlink(filepath.Join(strings.TrimSpace(string(out)), "docker-compose"), link); err != nil {
			t.Fatal(err)
		}
	}
	p := &composeProject{e: e, dir: t.TempDir(), name: strings.ReplaceAll(name("c5"), "-", "")}
	for path, content := range files {
		full := filepath.Join(p.dir, path)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		if r := p.run(t, "down", "-v", "-t", "0", "--remove-orphans"); r.Code != 0 {
			t.Logf("docker compose down -v:\n%s", r)
		}
	})
	return p
}

// run runs docker compose on the project.
func (p *composeProject) run(t *testing.T, args ...string) result {
	t.Helper()
	return p.e.run(t, nil, "docker", append([]string{"compose", "--project-directory", p.dir, "-p", p.name, "--progress", "plain"}, args...)...)
}

// must runs docker compose and fails the test unless it exits 0.
func (p *composeProject) must(t *testing.T, args ...string) result {
	t.Helper()
	r := p.run(t, args...)
	if r.Code != 0 {
		t.Fatalf("docker compose %s:\n%s", strings.Join(args, " "), r)
	}
	return r
}

// container is the name compose gives replica n of service.
func (p *composeProject) container(service string, n int) string {
	return fmt.Sprintf("%s-%s-%d", p.name, service, n)
}

// TestComposeV5Up: up -d with named and bind volumes (a directory and a
// single file), file-based secrets and configs, a published port range and
// network_mode: service:x; then ps, exec, run --rm, restart, --scale and
// down -v, which leaves no container, network or volume.
func TestComposeV5Up(t *testing.T) {
	e := newEnv(t)
	port := 20000 + int(time.Now().UnixNano()%20000)
	p := newComposeProject(t, e, map[string]string{
		"compose.yaml": fmt.Sprintf(`services:
  web:
    image: busybox:latest
    command: ["sh", "-c", "echo web-started; httpd -f -p 80 -h /www & httpd -f -p 81 -h /www & wait"]
    ports: ["%d-%d:80-81"]
    volumes:
      - data:/data
      - ./www:/www:ro
      - ./app.env:/app.env:ro
    secrets: [token]
    configs:
      - source: settings
        target: /etc/settings.conf
  side:
    image: busybox:latest
    command: ["sleep", "300"]
    network_mode: service:web
  worker:
    image: busybox:latest
    command: ["sleep", "300"]
volumes:
  data:
secrets:
  token:
    file: ./token.txt
configs:
  settings:
    file: ./settings.conf
`, port, port+1),
		"www/index.html": "hello from compose\n",
		"app.env":        "MODE=v5\n",
		"token.txt":      "s3cret\n",
		"settings.conf":  "level=debug\n",
	})
	p.must(t, "up", "-d")

	r := p.must(t, "ps", "--format", "{{.Service}} {{.State}}")
	for _, svc := range []string{"web running", "side running", "worker running"} {
		if !strings.Contains(r.Stdout, svc) {
			t.Errorf("docker compose ps: no %q in\n%s", svc, r.Stdout)
		}
	}
	for path, want := range map[string]string{
		"/www/index.html":    "hello from compose\n",
		"/app.env":           "MODE=v5\n",
		"/run/secrets/token": "s3cret\n",
		"/etc/settings.conf": "level=debug\n",
	} {
		if r := p.run(t, "exec", "-T", "web", "cat", path); r.Code != 0 || r.Stdout != want {
			t.Errorf("exec web cat %s:\n%s", path, r)
		}
	}
	p.must(t, "exec", "-T", "web", "sh", "-c", "echo kept > /data/f")

	// side shares web's network namespace: web's httpd answers on its
	// localhost.
	poll(t, 10*time.Second, "httpd in web", func() (bool, string) {
		r := p.run(t, "exec", "-T", "side", "wget", "-q", "-O", "-", "http://127.0.0.1:81/index.html")
		return r.Code == 0 && r.Stdout == "hello from compose\n", r.String()
	})
	// Both ports of the range are published on the host side.
	for _, port := range []int{port, port + 1} {
		url := fmt.Sprintf("http://127.0.0.1:%d/index.html", port)
		poll(t, 10*time.Second, url, func() (bool, string) {
			r := e.inDaemonNet(t, "curl", "-sS", "--max-time", "5", url)
			return r.Code == 0 && r.Stdout == "hello from compose\n", r.String()
		})
	}
	if r := p.must(t, "port", "web", "81"); !strings.HasSuffix(strings.TrimSpace(r.Stdout), fmt.Sprintf(":%d", port+1)) {
		t.Errorf("docker compose port web 81: %q", r.Stdout)
	}

	// run --rm: a one-off container with the service's volumes, removed after.
	if r := p.run(t, "run", "--rm", "-T", "web", "cat", "/data/f"); r.Code != 0 || !strings.Contains(r.Stdout, "kept\n") {
		t.Errorf("run --rm web cat /data/f:\n%s", r)
	}
	if out := e.mustDocker(t, "ps", "-aq", "--filter", "label=com.docker.compose.oneoff=True", "--filter", "label=com.docker.compose.project="+p.name); out != "" {
		t.Errorf("run --rm left containers: %q", out)
	}

	started := e.mustDocker(t, "inspect", "-f", "{{.State.StartedAt}}", p.container("worker", 1))
	p.must(t, "restart", "-t", "1", "worker")
	if again := e.mustDocker(t, "inspect", "-f", "{{.State.Running}} {{.State.StartedAt}}", p.container("worker", 1)); again == "true "+started || !strings.HasPrefix(again, "true ") {
		t.Errorf("restart worker: before StartedAt %s, after %q", started, again)
	}

	p.must(t, "up", "-d", "--scale", "worker=3", "worker")
	r = p.must(t, "ps", "--format", "{{.Name}}", "worker")
	if got := strings.Fields(r.Stdout); len(got) != 3 {
		t.Errorf("--scale worker=3: ps lists %q", got)
	}
	p.must(t, "up", "-d", "--scale", "worker=1", "worker")
	r = p.must(t, "ps", "--format", "{{.Name}}", "worker")
	if got := strings.Fields(r.Stdout); len(got) != 1 {
		t.Errorf("--scale worker=1: ps lists %q", got)
	}

	p.must(t, "down", "-v", "-t", "1")
	label := "label=com.docker.compose.project=" + p.name
	for _, what := range [][]string{{"ps", "-aq"}, {"network", "ls", "-q"}, {"volume", "ls", "-q"}} {
		if out := e.mustDocker(t, append(what, "--filter", label)...); out != "" {
			t.Errorf("after down -v, docker %s lists %q", strings.Join(what, " "), out)
		}
	}
}

// TestComposeV5DependsOnWaitProfilesInclude: depends_on with
// service_completed_successfully orders a one-shot job before the app;
// wait returns a service's exit code; a profile's service starts only
// when asked; services of an included file join the project.
func TestComposeV5DependsOnWaitProfilesInclude(t *testing.T) {
	e := newEnv(t)
	p := newComposeProject(t, e, map[string]string{
		"compose.yaml": `include:
  - lib/extra.yaml
services:
  migrate:
    image: busybox:latest
    command: ["sh", "-c", "sleep 1; echo done > /state/migrated"]
    volumes: [state:/state]
  app:
    image: busybox:latest
    command: ["sh", "-c", "cat /state/migrated; sleep 300"]
    volumes: [state:/state]
    depends_on:
      migrate:
        condition: service_completed_successfully
  job:
    image: busybox:latest
    command: ["sh", "-c", "sleep 1; exit 3"]
  debug:
    image: busybox:latest
    command: ["sleep", "300"]
    profiles: [debug]
volumes:
  state:
`,
		"lib/extra.yaml": `services:
  extra:
    image: busybox:latest
    command: ["sleep", "300"]
`,
	})
	p.must(t, "up", "-d")
	r := p.must(t, "ps", "-a", "--format", "{{.Service}} {{.State}} {{.ExitCode}}")
	for _, want := range []string{"migrate exited 0", "app running", "extra running"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("docker compose ps -a: no %q in\n%s", want, r.Stdout)
		}
	}
	if strings.Contains(r.Stdout, "debug") {
		t.Errorf("the debug profile's service started without --profile debug:\n%s", r.Stdout)
	}
	if r := p.must(t, "logs", "--no-color", "--no-log-prefix", "app"); !strings.Contains(r.Stdout, "done") {
		t.Errorf("app started before migrate completed: its log is %q", r.Stdout)
	}

	if r := p.run(t, "wait", "job"); r.Code != 3 {
		t.Errorf("docker compose wait job (exits 3):\n%s", r)
	}

	p.must(t, "--profile", "debug", "up", "-d")
	r = p.must(t, "ps", "--format", "{{.Service}} {{.State}}")
	if !strings.Contains(r.Stdout, "debug running") {
		t.Errorf("--profile debug up -d: ps\n%s", r.Stdout)
	}
}

// TestComposeV5LogsFollow: logs -f prints what a service writes after it
// started following, and stops when the service's container exits.
func TestComposeV5LogsFollow(t *testing.T) {
	e := newEnv(t)
	p := newComposeProject(t, e, map[string]string{
		"compose.yaml": `services:
  talker:
    image: busybox:latest
    command: ["sh", "-c", "echo first; sleep 2; echo second; sleep 1"]
`,
	})
	if code, _, _ := e.api(t, "GET", "/events?until=0", nil); code == 404 {
		t.Skip("logs -f of Compose v5 follows containers through GET /events, which this gantryd does not serve yet (events come with the lifecycle work)")
	}
	p.must(t, "up", "-d")
	r := p.run(t, "logs", "-f", "--no-color", "--no-log-prefix", "talker")
	if r.Code != 0 || !strings.HasPrefix(r.Stdout, "first\nsecond\n") || !strings.Contains(r.Stdout, "talker-1 exited with code 0") {
		t.Errorf("docker compose logs -f talker:\n%s", r)
	}
}

// TestComposeV5Healthy: depends_on service_healthy waits for the
// dependency's healthcheck.
func TestComposeV5Healthy(t *testing.T) {
	e := newEnv(t)
	p := newComposeProject(t, e, map[string]string{
		"compose.yaml": `services:
  db:
    image: busybox:latest
    command: ["sh", "-c", "sleep 2; touch /tmp/ready; sleep 300"]
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 1s
      retries: 30
  app:
    image: busybox:latest
    command: ["sleep", "300"]
    depends_on:
      db:
        condition: service_healthy
`,
	})
	probe := e.docker(t, "run", "-d", "--health-cmd", "true", "--health-interval", "1s", "busybox:latest", "sleep", "30")
	if probe.Code != 0 {
		t.Skipf("gantryd refuses healthchecks (the lifecycle work adds them):\n%s", probe)
	}
	id := strings.TrimSpace(probe.Stdout)
	health := e.docker(t, "inspect", "-f", "{{if .State.Health}}{{.State.Health.Status}}{{end}}", id)
	e.docker(t, "rm", "-f", id)
	if strings.TrimSpace(health.Stdout) == "" {
		t.Skip("the daemon reports no State.Health (healthchecks come with the lifecycle work)")
	}
	p.must(t, "up", "-d")
	if got := e.mustDocker(t, "inspect", "-f", "{{.State.Health.Status}}", p.container("db", 1)); got != "healthy" {
		t.Errorf("app started while db was %q", got)
	}
	if got := e.mustDocker(t, "inspect", "-f", "{{.State.Status}}", p.container("app", 1)); got != "running" {
		t.Errorf("app: %q", got)
	}
}

// TestComposeV5Build: with no buildx plugin, Compose v5 falls back to the
// classic builder (POST /build): up -d builds a service's image, and
// up --build after a change rebuilds it and recreates the container.
func TestComposeV5Build(t *testing.T) {
	e := newEnv(t)
	p := newComposeProject(t, e, map[string]string{
		"compose.yaml": `services:
  app:
    build:
      context: ./app
      args:
        GREETING: hello
    command: ["sleep", "300"]
`,
		"app/Dockerfile": "FROM busybox:latest\nARG GREETING\nCOPY msg /msg\nRUN echo \"$GREETING\" >> /msg\n",
		"app/msg":        "one\n",
	})
	r := p.must(t, "up", "-d")
	if !strings.Contains(r.Stderr, "falling back to the classic builder") {
		t.Errorf("docker compose up -d without buildx did not say it uses the classic builder:\n%s", r)
	}
	ctr := p.container("app", 1)
	if r := p.run(t, "exec", "-T", "app", "cat", "/msg"); r.Stdout != "one\nhello\n" {
		t.Errorf("built image's /msg:\n%s", r)
	}
	firstID := e.mustDocker(t, "inspect", "-f", "{{.Id}}", ctr)
	image := e.mustDocker(t, "inspect", "-f", "{{.Config.Image}}", ctr)
	if image != p.name+"-app" {
		t.Errorf("the service's image is %q, want %s-app", image, p.name)
	}

	// An unchanged project: up -d keeps the container.
	p.must(t, "up", "-d")
	if id := e.mustDocker(t, "inspect", "-f", "{{.Id}}", ctr); id != firstID {
		t.Errorf("up -d of an unchanged project recreated app")
	}

	if err := os.WriteFile(filepath.Join(p.dir, "app", "msg"), []byte("two\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p.must(t, "up", "-d", "--build")
	if id := e.mustDocker(t, "inspect", "-f", "{{.Id}}", ctr); id == firstID {
		t.Errorf("up --build after a change kept the old container")
	}
	if r := p.run(t, "exec", "-T", "app", "cat", "/msg"); r.Stdout != "two\nhello\n" {
		t.Errorf("rebuilt image's /msg:\n%s", r)
	}
}

// TestComposeV5Refused: service keys the daemon cannot honour fail up with
// an error naming them, with dockerd's words where dockerd refuses too
// (runtime, isolation); nothing is left running.
func TestComposeV5Refused(t *testing.T) {
	e := newEnv(t)
	dockerd := e.d != nil && e.d.isDockerd()
	for _, tt := range []struct {
		key, want  string
		gantryOnly bool // dockerd 20.10 honours it (or, for ipc, fails in other words)
	}{
		{key: "runtime: crun", want: "Unknown runtime specified crun"},
		{key: "isolation: hyperv", want: `Invalid isolation: "hyperv" - linux only supports 'default'`},
		{key: "ipc: container:elsewhere", want: `ipc mode "container:elsewhere" is not supported by gantry`, gantryOnly: true},
		{key: "networks: {default: {driver_opts: {com.example.opt: x}}}", want: "driver options of an endpoint on network ", gantryOnly: true},
		{key: "networks: {default: {link_local_ips: [169.254.8.8]}}", want: "link-local IPs of an endpoint on network ", gantryOnly: true},
		{key: "cgroup: private", want: `cgroup namespace mode "private" is not supported by gantry`, gantryOnly: true},
		{key: "cgroup_parent: compose-test", want: "cgroup-parent is not supported by gantry", gantryOnly: true},
		{key: "mem_swappiness: 10", want: "memory-swappiness is not supported by gantry", gantryOnly: true},
		{key: "cpu_rt_runtime: 1000", want: "cpu-rt-period/cpu-rt-runtime is not supported by gantry", gantryOnly: true},
		{key: "blkio_config: {device_read_bps: [{path: /dev/null, rate: 1mb}]}", want: "device-read-bps/device-write-bps/device-read-iops/device-write-iops is not supported by gantry", gantryOnly: true},
	} {
		t.Run(strings.TrimSuffix(strings.Fields(tt.key)[0], ":"), func(t *testing.T) {
			if tt.gantryOnly && dockerd {
				t.Skip("gantry only: dockerd 20.10 honours " + tt.key)
			}
			p := newComposeProject(t, e, map[string]string{
				"compose.yaml": "services:\n  app:\n    image: busybox:latest\n    command: [\"sleep\", \"300\"]\n    " + tt.key + "\n",
			})
			r := p.run(t, "up", "-d")
			if r.Code == 0 || !strings.Contains(r.Stderr, tt.want) {
				t.Errorf("docker compose up -d with %s: want an error %q\n%s", tt.key, tt.want, r)
			}
			if out := e.mustDocker(t, "ps", "-q", "--filter", "label=com.docker.compose.project="+p.name); out != "" {
				t.Errorf("a refused service runs: %q", out)
			}
		})
	}
}

// TestComposeV5RecursiveReadOnlyBind: a bind with bind.recursive: readonly
// is read-only down to the mounts under its source (runc's rro); a plain
// read-only bind leaves them writable, as dockerd 20.10's do.
func TestComposeV5RecursiveReadOnlyBind(t *testing.T) {
	e := newEnv(t)
	if e.d != nil && e.d.isDockerd() {
		t.Skip("dockerd 20.10 (API 1.41) has no recursive read-only binds")
	}
	src := t.TempDir()
	sub := filepath.Join(src, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "tmpfs", sub).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", sub).Run() })
	p := newComposeProject(t, e, map[string]string{
		"compose.yaml": fmt.Sprintf(`services:
  plain:
    image: busybox:latest
    command: ["sleep", "300"]
    volumes: ["%[1]s:/src:ro"]
  rro:
    image: busybox:latest
    command: ["sleep", "300"]
    volumes:
      - type: bind
        source: %[1]s
        target: /src
        read_only: true
        bind:
          recursive: readonly
`, src),
	})
	p.must(t, "up", "-d")
	if r := p.run(t, "exec", "-T", "plain", "touch", "/src/sub/a"); r.Code != 0 {
		t.Errorf("a plain read-only bind made its submount read-only too:\n%s", r)
	}
	if r := p.run(t, "exec", "-T", "rro", "touch", "/src/sub/b"); r.Code == 0 || !strings.Contains(r.Stderr, "Read-only file system") {
		t.Errorf("bind.recursive: readonly left a submount writable:\n%s", r)
	}
	if r := p.run(t, "exec", "-T", "rro", "touch", "/src/c"); r.Code == 0 {
		t.Errorf("bind.recursive: readonly left the bind writable:\n%s", r)
	}
}

// TestComposeV5SharedPID: pid: service:x puts a service's processes in
// the PID namespace of x's container, as ps inside it shows.
func TestComposeV5SharedPID(t *testing.T) {
	e := newEnv(t)
	p := newComposeProject(t, e, map[string]string{
		"compose.yaml": `services:
  main:
    image: busybox:latest
    command: ["sleep", "301"]
  sidecar:
    image: busybox:latest
    command: ["sleep", "302"]
    pid: service:main
`,
	})
	p.must(t, "up", "-d")
	r := p.must(t, "exec", "-T", "sidecar", "ps", "-o", "args")
	if !strings.Contains(r.Stdout, "sleep 301") || !strings.Contains(r.Stdout, "sleep 302") {
		t.Errorf("ps in sidecar (pid: service:main) should list both services' processes:\n%s", r.Stdout)
	}
	r = p.must(t, "exec", "-T", "main", "ps", "-o", "args")
	if !strings.Contains(r.Stdout, "sleep 302") {
		t.Errorf("ps in main should list its sidecar's process:\n%s", r.Stdout)
	}
}

// lockedBuffer is a bytes.Buffer written by a command and read by the test.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestComposeV5Watch: docker compose watch copies a changed file into the
// running container (action sync) and rebuilds the image and recreates the
// container when the Dockerfile changes (action rebuild), through the
// classic builder.
func TestComposeV5Watch(t *testing.T) {
	e := newEnv(t)
	p := newComposeProject(t, e, map[string]string{
		"compose.yaml": `services:
  app:
    build: ./app
    command: ["sleep", "300"]
    develop:
      watch:
        - action: sync
          path: ./app/src
          target: /src
        - action: rebuild
          path: ./app/Dockerfile
`,
		"app/Dockerfile": "FROM busybox:latest\nCOPY src /src\n",
		"app/src/a.txt":  "one\n",
	})
	p.must(t, "up", "-d", "--build")
	ctr := p.container("app", 1)
	firstID := e.mustDocker(t, "inspect", "-f", "{{.Id}}", ctr)

	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", "compose", "--project-directory", p.dir, "-p", p.name, "watch", "--no-up")
	cmd.Env = e.clientEnv()
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	poll(t, 30*time.Second, "compose watch to start", func() (bool, string) {
		return strings.Contains(out.String(), "Watch enabled"), out.String()
	})

	if err := os.WriteFile(filepath.Join(p.dir, "app", "src", "b.txt"), []byte("two\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	poll(t, 30*time.Second, "b.txt synced into the container", func() (bool, string) {
		r := p.run(t, "exec", "-T", "app", "cat", "/src/b.txt")
		return r.Code == 0 && r.Stdout == "two\n", r.String() + "\nwatch: " + out.String()
	})
	if id := e.mustDocker(t, "inspect", "-f", "{{.Id}}", ctr); id != firstID {
		t.Errorf("a sync recreated the container")
	}

	if err := os.WriteFile(filepath.Join(p.dir, "app", "Dockerfile"), []byte("FROM busybox:latest\nCOPY src /src\nENV REBUILT=yes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	poll(t, 60*time.Second, "the container recreated from the rebuilt image", func() (bool, string) {
		r := e.docker(t, "inspect", "-f", "{{.Id}} {{.Config.Env}}", ctr)
		return r.Code == 0 && !strings.HasPrefix(r.Stdout, firstID) && strings.Contains(r.Stdout, "REBUILT=yes"), r.String() + "\nwatch: " + out.String()
	})
}

// TestComposeV5UpAttached: up without -d prints the services' output and
// returns when they exit; it follows the containers through GET /events.
func TestComposeV5UpAttached(t *testing.T) {
	e := newEnv(t)
	if code, _, _ := e.api(t, "GET", "/events?until=0", nil); code == 404 {
		t.Skip("up without -d of Compose v5 follows containers through GET /events, which this gantryd does not serve yet (events come with the lifecycle work)")
	}
	p := newComposeProject(t, e, map[string]string{
		"compose.yaml": `services:
  hello:
    image: busybox:latest
    command: ["echo", "hello from up"]
`,
	})
	r := p.run(t, "up", "--abort-on-container-exit", "--exit-code-from", "hello")
	if r.Code != 0 || !strings.Contains(r.Stdout, "hello from up") {
		t.Errorf("docker compose up (attached):\n%s", r)
	}
}

// TestComposeV1RecreateBuild: docker-compose 1.29 rebuilds a service and
// recreates its container (up -d --build), carrying its volumes over: it
// reads the image's ContainerConfig to do so (KeyError: 'ContainerConfig'
// where the daemon omits it).
func TestComposeV1RecreateBuild(t *testing.T) {
	e := newEnv(t)
	compose, err := exec.LookPath("docker-compose")
	if err != nil {
		t.Skip("docker-compose not installed (Debian package docker-compose, 1.29)")
	}
	dir := t.TempDir()
	project := strings.ReplaceAll(name("c1"), "-", "")
	files := map[string]string{
		"docker-compose.yml": "version: \"3.8\"\nservices:\n  app:\n    build: ./app\n    command: [\"sleep\", \"300\"]\n    volumes: [\"data:/data\"]\nvolumes:\n  data:\n",
		"app/Dockerfile":     "FROM busybox:latest\nENV STEP=1\n",
	}
	for path, content := range files {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, path)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, path), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dc := func(args ...string) result {
		return e.run(t, nil, compose, append([]string{"--project-directory", dir, "-f", filepath.Join(dir, "docker-compose.yml"), "-p", project}, args...)...)
	}
	t.Cleanup(func() { dc("down", "-v", "-t", "0") })
	if r := dc("up", "-d"); r.Code != 0 {
		t.Fatalf("docker-compose up -d:\n%s", r)
	}
	ctr := project + "_app_1"
	e.mustDocker(t, "exec", ctr, "sh", "-c", "echo kept > /data/f")
	if err := os.WriteFile(filepath.Join(dir, "app", "Dockerfile"), []byte("FROM busybox:latest\nENV STEP=2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := dc("up", "-d", "--build"); r.Code != 0 {
		t.Fatalf("docker-compose up -d --build (recreate):\n%s", r)
	}
	if got := e.mustDocker(t, "exec", ctr, "sh", "-c", "echo $STEP; cat /data/f"); got != "2\nkept" {
		t.Errorf("after the recreate: %q, want the new image's STEP=2 and the volume's file", got)
	}
}

// TestComposeV5ScalePortRange: replicas of a service publishing one
// container port on a host port range each get a port of their own from
// the range, and each answers there.
func TestComposeV5ScalePortRange(t *testing.T) {
	e := newEnv(t)
	port := 20000 + int(time.Now().UnixNano()%20000)
	p := newComposeProject(t, e, map[string]string{
		"compose.yaml": fmt.Sprintf(`services:
  web:
    image: busybox:latest
    command: ["sh", "-c", "hostname > /www/index.html; httpd -f -p 80 -h /www"]
    ports: ["%d-%d:80"]
    tmpfs: [/www]
`, port, port+2),
	})
	p.must(t, "up", "-d", "--scale", "web=3")
	seen := map[string]bool{}
	for i := 1; i <= 3; i++ {
		r := p.must(t, "port", "--index", fmt.Sprint(i), "web", "80")
		addr := strings.TrimSpace(r.Stdout)
		_, hp, _ := strings.Cut(addr, ":")
		var n int
		if _, err := fmt.Sscan(hp, &n); err != nil || n < port || n > port+2 || seen[hp] {
			t.Errorf("replica %d published on %q: want a port of its own in %d-%d (seen %v)", i, addr, port, port+2, seen)
			continue
		}
		seen[hp] = true
		host := e.mustDocker(t, "inspect", "-f", "{{.Config.Hostname}}", p.container("web", i))
		url := fmt.Sprintf("http://127.0.0.1:%d/", n)
		poll(t, 10*time.Second, url, func() (bool, string) {
			r := e.inDaemonNet(t, "curl", "-sS", "--max-time", "5", url)
			return r.Code == 0 && strings.TrimSpace(r.Stdout) == host, r.String()
		})
	}
}

// TestCreateNetworkDisabledRefused: NetworkDisabled (the SDKs'
// network_disabled) is refused at create rather than ignored.
func TestCreateNetworkDisabledRefused(t *testing.T) {
	e := newEnv(t)
	if e.External || e.d.isDockerd() {
		t.Skip("dockerd honours NetworkDisabled")
	}
	code, _, body := e.api(t, "POST", "/containers/create", strings.NewReader(`{"Image":"busybox:latest","Cmd":["true"],"NetworkDisabled":true}`))
	if code != 501 || !strings.Contains(apiMessage(t, body), "NetworkDisabled is not supported by gantry") {
		t.Errorf("create with NetworkDisabled: %d %s", code, body)
	}
	if out := e.mustDocker(t, "ps", "-aq"); out != "" {
		t.Errorf("a refused create left containers: %q", out)
	}
}

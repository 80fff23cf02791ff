package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// criEnv is a gantryd serving the CRI with a CNI configuration of its own
// (a bridge in gantryd's network namespace), and crictl pointed at it.
type criEnv struct {
	*env
	bin     string // crictl
	cfg     string // crictl's config file
	sock    string // the CRI socket
	cniConf string // the CNI configuration directory
	ipam    string // host-local's data directory
	logs    string // the pods' log directory
}

// crictlPath is scripts/crictl.sh's build (.ci/run runs it), or
// $GANTRY_TEST_CRICTL; "" when there is none.
func crictlPath() string {
	if p := os.Getenv("GANTRY_TEST_CRICTL"); p != "" {
		return p
	}
	out, err := exec.Command("../scripts/crictl.sh", "--check").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// cniPluginDir is where Debian's containernetworking-plugins are.
const cniPluginDir = "/usr/lib/cni"

// newCRIEnv starts a gantryd whose CRI uses a bridge network (bridge,
// host-local, portmap) described by conflist ("" for the default one).
func newCRIEnv(t *testing.T, conflist string) *criEnv {
	t.Helper()
	for _, p := range []string{"bridge", "host-local", "portmap"} {
		if _, err := os.Stat(filepath.Join(cniPluginDir, p)); err != nil {
			t.Skipf("the CNI plugin %s is missing (apt-get install containernetworking-plugins): %v", p, err)
		}
	}
	crictl := crictlPath()
	if crictl == "" {
		t.Skip("crictl is not built: run scripts/crictl.sh (.ci/run does)")
	}
	e := newEnv(t)
	e.needGantryd(t)
	dir := t.TempDir()
	c := &criEnv{env: e, bin: crictl, cniConf: filepath.Join(dir, "net.d"), ipam: filepath.Join(dir, "ipam"), logs: filepath.Join(dir, "logs"), cfg: filepath.Join(dir, "crictl.yaml")}
	if conflist == "" {
		conflist = `{"cniVersion":"1.0.0","name":"gantry-test","plugins":[
 {"type":"bridge","bridge":"cri0","isGateway":true,"ipMasq":true,"ipam":{"type":"host-local","ranges":[[{"subnet":"10.99.0.0/24"}]],"dataDir":"IPAM"}},
 {"type":"portmap","capabilities":{"portMappings":true}}]}`
	}
	conflist = strings.ReplaceAll(conflist, "IPAM", c.ipam)
	if err := os.MkdirAll(c.cniConf, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.cniConf, "10-test.conflist"), []byte(conflist), 0o644); err != nil {
		t.Fatal(err)
	}
	e.stopDaemon(t)
	e.d.args = append(e.d.args, "--cni-conf-dir", c.cniConf, "--cni-bin-dir", cniPluginDir)
	e.startDaemon(t)
	c.sock = filepath.Join(e.d.runDir, "x", "cri.sock")
	cfg := fmt.Sprintf("runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\ntimeout: 60\n", c.sock, c.sock)
	if err := os.WriteFile(c.cfg, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.removePods(t)
		removeTestCgroups()
	})
	return c
}

// removeTestCgroups removes the pod cgroups the tests named (under
// /gantry-test) once empty: the kubelet would remove its pods' cgroups,
// which gantry only makes the containers' parents.
func removeTestCgroups() {
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*/gantry-test/pod-*")
	v2, _ := filepath.Glob("/sys/fs/cgroup/gantry-test/pod-*")
	for _, d := range append(dirs, v2...) {
		os.Remove(d)
	}
	tops, _ := filepath.Glob("/sys/fs/cgroup/*/gantry-test")
	for _, d := range append(tops, "/sys/fs/cgroup/gantry-test") {
		os.Remove(d)
	}
}

// removePods removes every pod left (their containers with them), so that
// no pause process or network namespace outlives the test.
func (c *criEnv) removePods(t *testing.T) {
	if !c.d.running() {
		return
	}
	r := c.run(t, nil, c.bin, "--config", c.cfg, "pods", "-q")
	for _, id := range strings.Fields(r.Stdout) {
		c.run(t, nil, c.bin, "--config", c.cfg, "rmp", "-f", id)
	}
}

// crictl runs crictl against gantryd's CRI socket.
func (c *criEnv) crictl(t *testing.T, args ...string) result {
	t.Helper()
	return c.run(t, nil, c.bin, append([]string{"--config", c.cfg}, args...)...)
}

// mustCrictl is crictl that must succeed; it returns the trimmed stdout.
func (c *criEnv) mustCrictl(t *testing.T, args ...string) string {
	t.Helper()
	r := c.crictl(t, args...)
	if r.Code != 0 {
		t.Fatalf("crictl %s:\n%s", strings.Join(args, " "), r)
	}
	return strings.TrimSpace(r.Stdout)
}

// writeJSON writes v as JSON in a new file of the test's and returns its
// path.
func writeJSON(t *testing.T, name string, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func (c *criEnv) podConfig(t *testing.T, name string) (string, map[string]any) {
	cfg := map[string]any{
		"metadata":      map[string]any{"name": name, "namespace": "default", "uid": "uid-" + name, "attempt": 0},
		"hostname":      name,
		"log_directory": filepath.Join(c.logs, name),
		"linux":         map[string]any{"cgroup_parent": "/gantry-test/pod-" + name},
	}
	return writeJSON(t, "pod-"+name+".json", cfg), cfg
}

// runPod runs a pod and returns its ID and config file.
func (c *criEnv) runPod(t *testing.T, name string) (string, string) {
	t.Helper()
	cfg, _ := c.podConfig(t, name)
	return c.mustCrictl(t, "runp", cfg), cfg
}

// startContainer creates and starts a busybox container running script
// in pod, and returns its ID.
func (c *criEnv) startContainer(t *testing.T, pod, podCfg, name, script string) string {
	t.Helper()
	cfg := writeJSON(t, "ctr-"+name+".json", map[string]any{
		"metadata": map[string]any{"name": name},
		"image":    map[string]any{"image": "busybox"},
		"command":  []string{"sh", "-c", script},
		"log_path": name + ".log",
		"labels":   map[string]string{"app": name},
	})
	id := c.mustCrictl(t, "create", pod, cfg, podCfg)
	c.mustCrictl(t, "start", id)
	return id
}

// pausePids are the pause processes running from gantryd's monitor binary.
func pausePids(t *testing.T) []string {
	out, _ := exec.Command("pgrep", "-f", "^"+filepath.Join(binDir, "gantry-monitor")+" pause$").Output()
	return strings.Fields(string(out))
}

// TestCRIPodLifecycle: crictl runs a pod (CNI gives it an address on the
// bridge), a container in it (hostname, address and the pod's shared PID
// namespace seen from inside; CRI-format log at the kubelet's path; docker
// ps shows it with its io.kubernetes.* label), stops and removes both;
// then no network namespace, veth, pause process or address is left.
func TestCRIPodLifecycle(t *testing.T) {
	c := newCRIEnv(t, "")
	if got := c.mustCrictl(t, "version"); !strings.Contains(got, "RuntimeName:  gantry") || !strings.Contains(got, "RuntimeApiVersion:  v1") {
		t.Errorf("crictl version:\n%s", got)
	}
	if got := c.mustCrictl(t, "images"); !strings.Contains(got, "docker.io/library/busybox") {
		t.Errorf("crictl images does not list busybox, imported through the Docker API:\n%s", got)
	}
	before := pausePids(t)
	pod, podCfg := c.runPod(t, "web")
	var st struct {
		Status struct {
			State   string
			Network struct{ IP string }
		}
	}
	if err := json.Unmarshal([]byte(c.mustCrictl(t, "inspectp", pod)), &st); err != nil {
		t.Fatal(err)
	}
	if st.Status.State != "SANDBOX_READY" || !strings.HasPrefix(st.Status.Network.IP, "10.99.0.") {
		t.Fatalf("pod status %+v: want ready with an address in 10.99.0.0/24", st.Status)
	}
	id := c.startContainer(t, pod, podCfg, "app", "echo hello; echo oops >&2; exec sleep 1000")
	out := c.mustCrictl(t, "exec", "-s", id, "sh", "-c", "hostname; ip -4 addr show eth0; ps -o pid,comm")
	if !strings.Contains(out, "web\n") || !strings.Contains(out, st.Status.Network.IP+"/24") {
		t.Errorf("hostname and address seen in the container:\n%s", out)
	}
	if !regexp.MustCompile(`(?m)^\s*1 gantry-monitor`).MatchString(out) {
		t.Errorf("the pod's PID namespace has no pause process as PID 1:\n%s", out)
	}
	logPath := filepath.Join(c.logs, "web", "app.log")
	deadline := time.Now().Add(30 * time.Second)
	var log []byte
	for time.Now().Before(deadline) {
		log, _ = os.ReadFile(logPath)
		if strings.Count(string(log), "\n") >= 2 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cri := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z (stdout F hello|stderr F oops)$`)
	lines := strings.Split(strings.TrimSuffix(string(log), "\n"), "\n")
	if len(lines) != 2 || !cri.MatchString(lines[0]) || !cri.MatchString(lines[1]) {
		t.Errorf("log %s, want two CRI-format lines:\n%s", logPath, log)
	}
	if r := c.crictl(t, "logs", id); r.Stdout != "hello\n" || r.Stderr != "oops\n" {
		t.Errorf("crictl logs:\n%s", r)
	}
	if r := c.docker(t, "ps", "--filter", "label=io.kubernetes.sandbox.id="+pod, "--format", "{{.Names}}"); strings.TrimSpace(r.Stdout) != "k8s_app_web_default_uid-web_0" {
		t.Errorf("docker ps of the pod's containers:\n%s", r)
	}

	c.mustCrictl(t, "stop", id)
	var cs struct{ Status struct{ State string } }
	json.Unmarshal([]byte(c.mustCrictl(t, "inspect", id)), &cs)
	if cs.Status.State != "CONTAINER_EXITED" {
		t.Errorf("container state after stop: %q", cs.Status.State)
	}
	c.mustCrictl(t, "rm", id)
	c.mustCrictl(t, "stopp", pod)
	c.mustCrictl(t, "rmp", pod)
	if got := c.mustCrictl(t, "pods", "-q"); got != "" {
		t.Errorf("pods left: %s", got)
	}
	c.checkNothingLeft(t, before)
}

// checkNothingLeft checks that no pod left a network namespace, veth,
// address, pause process or directory.
func (c *criEnv) checkNothingLeft(t *testing.T, pausesBefore []string) {
	t.Helper()
	netns, _ := os.ReadDir(filepath.Join(c.d.runDir, "x", "cri", "netns"))
	if len(netns) > 0 {
		t.Errorf("network namespaces left: %v", netns)
	}
	if r := c.inDaemonNet(t, "ip", "-o", "link", "show", "type", "veth"); strings.TrimSpace(r.Stdout) != "" {
		t.Errorf("veths left in gantryd's network namespace:\n%s", r.Stdout)
	}
	if ips, _ := filepath.Glob(filepath.Join(c.ipam, "*", "10.99.*")); len(ips) > 0 {
		t.Errorf("addresses still allocated: %v", ips)
	}
	if got := pausePids(t); len(got) > len(pausesBefore) {
		t.Errorf("pause processes left: %v (before: %v)", got, pausesBefore)
	}
	pods, _ := os.ReadDir(filepath.Join(c.Root, "cri", "pods"))
	records, _ := os.ReadDir(filepath.Join(c.Root, "cri", "sandboxes"))
	if len(pods) > 0 || len(records) > 0 {
		t.Errorf("pod directories %v and records %v left", pods, records)
	}
}

// TestCRIFailedCNILeavesNothing: a CNI configuration whose second plugin
// fails after the bridge plugin made its veth and took an address: the
// RunPodSandbox fails, and the veth, the address, the network namespace,
// the pause process and the pod's directory are all gone.
func TestCRIFailedCNILeavesNothing(t *testing.T) {
	c := newCRIEnv(t, `{"cniVersion":"1.0.0","name":"gantry-broken","plugins":[
 {"type":"bridge","bridge":"cri0","isGateway":true,"ipam":{"type":"host-local","ranges":[[{"subnet":"10.99.0.0/24"}]],"dataDir":"IPAM"}},
 {"type":"gantry-no-such-plugin"}]}`)
	before := pausePids(t)
	cfg, _ := c.podConfig(t, "broken")
	r := c.crictl(t, "runp", cfg)
	if r.Code == 0 || !strings.Contains(r.Stderr, "gantry-no-such-plugin") {
		t.Fatalf("crictl runp with a failing CNI plugin:\n%s", r)
	}
	if got := c.mustCrictl(t, "pods", "-q"); got != "" {
		t.Errorf("a pod is listed after the failed run: %s", got)
	}
	c.checkNothingLeft(t, before)
	// The bridge the plugin made stays (as with containerd), empty.
	if r := c.inDaemonNet(t, "ip", "-o", "link", "show", "master", "cri0"); strings.TrimSpace(r.Stdout) != "" {
		t.Errorf("ports left on the bridge:\n%s", r.Stdout)
	}
}

// TestCRIRestartSurvival: a pod and its container keep running while
// gantryd is killed and started again; the new gantryd adopts them (the
// pod is ready, exec works), then stops and removes them cleanly.
func TestCRIRestartSurvival(t *testing.T) {
	c := newCRIEnv(t, "")
	before := pausePids(t)
	pod, podCfg := c.runPod(t, "survivor")
	id := c.startContainer(t, pod, podCfg, "app", "exec sleep 1000")
	c.killDaemon(t)
	c.startDaemon(t)
	if got := c.mustCrictl(t, "pods", "--state", "ready", "-q"); got != pod {
		t.Fatalf("ready pods after the restart: %q, want %s", got, pod)
	}
	if got := c.mustCrictl(t, "ps", "--state", "running", "-q"); got != id {
		t.Fatalf("running containers after the restart: %q, want %s", got, id)
	}
	if got := c.mustCrictl(t, "exec", "-s", id, "echo", "adopted"); got != "adopted" {
		t.Errorf("exec after the restart: %q", got)
	}
	c.mustCrictl(t, "stopp", pod)
	c.mustCrictl(t, "rmp", pod)
	c.checkNothingLeft(t, before)
}

// TestCRIBadInput: the gRPC codes containerd answers bad requests with.
func TestCRIBadInput(t *testing.T) {
	c := newCRIEnv(t, "")
	conn, err := grpc.NewClient("unix://"+c.sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rt := runtimeapi.NewRuntimeServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	md := &runtimeapi.PodSandboxMetadata{Name: "bad", Namespace: "default", Uid: "uid-bad"}
	pod, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: &runtimeapi.PodSandboxConfig{Metadata: md, Hostname: "bad"}})
	if err != nil {
		t.Fatal(err)
	}
	sandboxCfg := &runtimeapi.PodSandboxConfig{Metadata: md}
	ctr := func(name, image string) *runtimeapi.ContainerConfig {
		return &runtimeapi.ContainerConfig{Metadata: &runtimeapi.ContainerMetadata{Name: name}, Image: &runtimeapi.ImageSpec{Image: image}, Command: []string{"sleep", "100"}}
	}
	created, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: pod.PodSandboxId, Config: ctr("one", "busybox"), SandboxConfig: sandboxCfg})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"pod without metadata", func() error {
			_, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: &runtimeapi.PodSandboxConfig{}})
			return err
		}, codes.InvalidArgument},
		{"pod without a uid", func() error {
			_, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: &runtimeapi.PodSandboxConfig{Metadata: &runtimeapi.PodSandboxMetadata{Name: "x", Namespace: "y"}}})
			return err
		}, codes.InvalidArgument},
		{"the same pod name and attempt twice", func() error {
			_, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: &runtimeapi.PodSandboxConfig{Metadata: md}})
			return err
		}, codes.AlreadyExists},
		{"a container in an unknown pod", func() error {
			_, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: "0123456789ab", Config: ctr("x", "busybox"), SandboxConfig: sandboxCfg})
			return err
		}, codes.NotFound},
		{"a container of an image not pulled", func() error {
			_, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: pod.PodSandboxId, Config: ctr("x", "gantry-test/not-pulled:1"), SandboxConfig: sandboxCfg})
			return err
		}, codes.NotFound},
		{"a container without metadata", func() error {
			_, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: pod.PodSandboxId, Config: &runtimeapi.ContainerConfig{Image: &runtimeapi.ImageSpec{Image: "busybox"}}, SandboxConfig: sandboxCfg})
			return err
		}, codes.InvalidArgument},
		{"an image volume (not implemented, which critest skips)", func() error {
			cfg := ctr("imgvol", "busybox")
			cfg.Mounts = []*runtimeapi.Mount{{ContainerPath: "/data", Image: &runtimeapi.ImageSpec{Image: "busybox"}}}
			_, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: pod.PodSandboxId, Config: cfg, SandboxConfig: sandboxCfg})
			return err
		}, codes.Unimplemented},
		{"the same container name and attempt twice", func() error {
			_, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: pod.PodSandboxId, Config: ctr("one", "busybox"), SandboxConfig: sandboxCfg})
			return err
		}, codes.AlreadyExists},
		{"the status of an unknown container", func() error {
			_, err := rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: "0123456789ab"})
			return err
		}, codes.NotFound},
		{"the status of an unknown pod", func() error {
			_, err := rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: "0123456789ab"})
			return err
		}, codes.NotFound},
		{"exec in a container not started", func() error {
			_, err := rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: created.ContainerId, Cmd: []string{"true"}})
			return err
		}, codes.FailedPrecondition},
		{"a runtime handler not configured", func() error {
			_, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: &runtimeapi.PodSandboxConfig{Metadata: &runtimeapi.PodSandboxMetadata{Name: "h", Namespace: "d", Uid: "u"}}, RuntimeHandler: "kata"})
			return err
		}, codes.NotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := status.Code(tc.call()); got != tc.want {
				t.Errorf("code %v, want %v (error: %v)", got, tc.want, tc.call())
			}
		})
	}
	// Stopping and removing what is gone is not an error, as the kubelet
	// expects.
	if _, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: "0123456789ab"}); err != nil {
		t.Errorf("stop an unknown pod: %v", err)
	}
	if _, err := rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: "0123456789ab"}); err != nil {
		t.Errorf("remove an unknown container: %v", err)
	}
	if _, err := runtimeapi.NewImageServiceClient(conn).RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: &runtimeapi.ImageSpec{Image: strings.Repeat("0", 64)}}); err != nil {
		t.Errorf("remove an image ID that is no image: %v", err)
	}
}

// crictlInNet runs crictl in gantryd's network namespace, where its
// streaming server listens (127.0.0.1), with stdin.
func (c *criEnv) crictlInNet(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	argv := append([]string{c.bin, "--config", c.cfg}, args...)
	if c.d.netns != "" {
		argv = append([]string{"--net=" + c.d.netns, "--"}, argv...)
		return c.run(t, strings.NewReader(stdin), "nsenter", argv...)
	}
	return c.run(t, strings.NewReader(stdin), argv[0], argv[1:]...)
}

// TestCRIStreaming: exec (output, stdin and the exit code), attach and
// port-forward through the streaming server, as kubectl exec, attach and
// port-forward reach them through the kubelet.
func TestCRIStreaming(t *testing.T) {
	c := newCRIEnv(t, "")
	pod, podCfg := c.runPod(t, "stream")
	id := c.startContainer(t, pod, podCfg, "app", `printf 'HTTP/1.0 200 OK\r\n\r\nfrom the pod\n' > /reply; while true; do nc -l -p 8000 < /reply > /dev/null; done`)

	r := c.crictlInNet(t, "", "exec", id, "sh", "-c", "echo out; echo err >&2; exit 3")
	if r.Stdout != "out\n" || !strings.Contains(r.Stderr, "err\n") || !strings.Contains(r.Stderr, "exit code 3") || r.Code == 0 {
		t.Errorf("crictl exec with exit code 3:\n%s", r)
	}
	if r := c.crictlInNet(t, "through stdin\n", "exec", "-i", id, "cat"); r.Code != 0 || r.Stdout != "through stdin\n" {
		t.Errorf("crictl exec -i cat:\n%s", r)
	}

	// attach: a container reading its stdin once.
	cfg := writeJSON(t, "ctr-attach.json", map[string]any{
		"metadata": map[string]any{"name": "reader"},
		"image":    map[string]any{"image": "busybox"},
		"command":  []string{"sh", "-c", "read line; echo got: $line"},
		"stdin":    true, "stdin_once": true,
		"log_path": "reader.log",
	})
	reader := c.mustCrictl(t, "create", pod, cfg, podCfg)
	c.mustCrictl(t, "start", reader)
	if r := c.crictlInNet(t, "hello attach\n", "attach", "-i", reader); !strings.Contains(r.Stdout, "got: hello attach") {
		t.Errorf("crictl attach -i:\n%s", r)
	}

	// port-forward: crictl listens on 127.0.0.1:18000 in gantryd's
	// namespace and forwards to port 8000 of the pod.
	argv := []string{c.bin, "--config", c.cfg, "port-forward", pod, "18000:8000"}
	if c.d.netns != "" {
		argv = append([]string{"nsenter", "--net=" + c.d.netns, "--"}, argv...)
	}
	pf := exec.Command(argv[0], argv[1:]...)
	pf.Env = c.clientEnv()
	stdout, err := pf.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := pf.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		pf.Process.Kill()
		pf.Wait()
	}()
	buf := make([]byte, 256)
	if n, _ := stdout.Read(buf); !strings.Contains(string(buf[:n]), "Forwarding from") {
		t.Fatalf("crictl port-forward says %q", buf[:n])
	}
	go io.Copy(io.Discard, stdout)
	if r := c.inDaemonNet(t, "wget", "-qO-", "http://127.0.0.1:18000/"); r.Stdout != "from the pod\n" {
		t.Errorf("wget through the port forward:\n%s", r)
	}
}

// TestCRIStopKillsBackground: a container of a pod shares the pod's PID
// namespace, so the exit of its init does not end a process it left in
// the background, which holds its output open; the stop must still end
// (its monitor kills what is left of the container) and nothing of it
// must run on.
func TestCRIStopKillsBackground(t *testing.T) {
	c := newCRIEnv(t, "")
	pod, podCfg := c.runPod(t, "bg")
	id := c.startContainer(t, pod, podCfg, "app", "sleep 8765 & exec sleep 8764")
	// The log is there from the start, empty, as the kubelet expects.
	if fi, err := os.Stat(filepath.Join(c.logs, "bg", "app.log")); err != nil || fi.Size() != 0 {
		t.Errorf("the log of a container that wrote nothing: %v, %v", fi, err)
	}
	start := time.Now()
	c.mustCrictl(t, "stop", "--timeout", "0", id)
	var cs struct{ Status struct{ State string } }
	json.Unmarshal([]byte(c.mustCrictl(t, "inspect", id)), &cs)
	if cs.Status.State != "CONTAINER_EXITED" {
		t.Errorf("container state after stop: %q (%v after the stop began)", cs.Status.State, time.Since(start))
	}
	if out, _ := exec.Command("pgrep", "-f", "^sleep 8765$").Output(); len(out) > 0 {
		t.Errorf("the container's background process runs on: pid %s", out)
	}
}

// TestCRIStatsEventsUpdate: the evented PLEG's stream tells a container's
// creation, start, stop and removal with its pod's status; container and
// pod stats come from its cgroup and the pod's network namespace;
// UpdateContainerResources changes a running container's memory limit.
func TestCRIStatsEventsUpdate(t *testing.T) {
	c := newCRIEnv(t, "")
	conn, err := grpc.NewClient("unix://"+c.sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rt := runtimeapi.NewRuntimeServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	evs, err := rt.GetContainerEvents(ctx, &runtimeapi.GetEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	parent := "/gantry-test/pod-stats-" + randHex(4)
	podCfg := &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{Name: "stats", Namespace: "default", Uid: "uid-stats"},
		Hostname: "stats", Linux: &runtimeapi.LinuxPodSandboxConfig{CgroupParent: parent},
	}
	pod, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: podCfg})
	if err != nil {
		t.Fatal(err)
	}
	created, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: pod.PodSandboxId, SandboxConfig: podCfg, Config: &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: "worker"}, Image: &runtimeapi.ImageSpec{Image: "busybox"},
		Command: []string{"sh", "-c", "x=$(head -c 1000000 /dev/zero | tr '\\0' a); exec sleep 1000"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	id := created.ContainerId
	if _, err := rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	next := func(want runtimeapi.ContainerEventType) {
		t.Helper()
		ev, err := evs.Recv()
		if err != nil {
			t.Fatalf("waiting for %v: %v", want, err)
		}
		if ev.ContainerId != id || ev.ContainerEventType != want || ev.PodSandboxStatus.GetId() != pod.PodSandboxId {
			t.Fatalf("event %v of %s (pod %s), want %v of %s", ev.ContainerEventType, ev.ContainerId, ev.PodSandboxStatus.GetId(), want, id)
		}
	}
	next(runtimeapi.ContainerEventType_CONTAINER_CREATED_EVENT)
	next(runtimeapi.ContainerEventType_CONTAINER_STARTED_EVENT)

	st, err := rt.ContainerStats(ctx, &runtimeapi.ContainerStatsRequest{ContainerId: id})
	if err != nil {
		t.Fatal(err)
	}
	if st.Stats.GetAttributes().GetMetadata().GetName() != "worker" || st.Stats.GetCpu().GetTimestamp() == 0 || st.Stats.GetCpu().GetUsageCoreNanoSeconds().GetValue() == 0 || st.Stats.GetMemory().GetUsageBytes().GetValue() == 0 {
		t.Errorf("container stats: %v", st.Stats)
	}
	if _, err := rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: []string{"sh", "-c", "head -c 300000 /dev/zero > /big"}, Timeout: 30}); err != nil {
		t.Fatal(err)
	}
	if st, err := rt.ContainerStats(ctx, &runtimeapi.ContainerStatsRequest{ContainerId: id}); err != nil || st.Stats.GetWritableLayer().GetUsedBytes().GetValue() < 300000 {
		t.Errorf("writable layer after writing 300000 bytes: %v, %v", st.GetStats().GetWritableLayer(), err)
	}
	list, err := rt.ListContainerStats(ctx, &runtimeapi.ListContainerStatsRequest{Filter: &runtimeapi.ContainerStatsFilter{PodSandboxId: pod.PodSandboxId}})
	if err != nil || len(list.Stats) != 1 || list.Stats[0].Attributes.Id != id {
		t.Errorf("list container stats of the pod: %v, %v", list, err)
	}
	ps, err := rt.PodSandboxStats(ctx, &runtimeapi.PodSandboxStatsRequest{PodSandboxId: pod.PodSandboxId})
	if err != nil {
		t.Fatal(err)
	}
	if l := ps.Stats.GetLinux(); len(l.GetContainers()) != 1 || l.GetNetwork().GetDefaultInterface().GetName() != "eth0" || l.GetMemory().GetUsageBytes().GetValue() == 0 {
		t.Errorf("pod stats: %v", ps.Stats)
	}

	if _, err := rt.UpdateContainerResources(ctx, &runtimeapi.UpdateContainerResourcesRequest{ContainerId: id, Linux: &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 64 << 20}}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/memory", parent, id, "memory.limit_in_bytes")); err == nil {
		if strings.TrimSpace(string(b)) != "67108864" {
			t.Errorf("memory limit after the update: %s", b)
		}
	} else if b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", parent, id, "memory.max")); err != nil || strings.TrimSpace(string(b)) != "67108864" {
		t.Errorf("memory limit after the update: %q, %v", b, err)
	}

	if _, err := rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	next(runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT)
	if _, err := rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	next(runtimeapi.ContainerEventType_CONTAINER_DELETED_EVENT)
	if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: pod.PodSandboxId}); err != nil {
		t.Fatal(err)
	}
}

// TestCRISecurityContext: a container's security context as the kubelet
// gives it, seen from inside: seccomp (none by default, as containerd;
// Docker's profile for RuntimeDefault; a profile file for Localhost),
// user, groups, read-only rootfs, no_new_privs, capabilities.
func TestCRISecurityContext(t *testing.T) {
	c := newCRIEnv(t, "")
	conn, err := grpc.NewClient("unix://"+c.sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rt := runtimeapi.NewRuntimeServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	podCfg := &runtimeapi.PodSandboxConfig{Metadata: &runtimeapi.PodSandboxMetadata{Name: "sec", Namespace: "default", Uid: "uid-sec"}, Hostname: "sec"}
	pod, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: podCfg})
	if err != nil {
		t.Fatal(err)
	}
	profile := filepath.Join(t.TempDir(), "no-mkdir.json")
	if err := os.WriteFile(profile, []byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(name string, sc *runtimeapi.LinuxContainerSecurityContext, script string) (string, error) {
		t.Helper()
		created, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: pod.PodSandboxId, SandboxConfig: podCfg, Config: &runtimeapi.ContainerConfig{
			Metadata: &runtimeapi.ContainerMetadata{Name: name}, Image: &runtimeapi.ImageSpec{Image: "busybox"},
			Command: []string{"sleep", "1000"}, Linux: &runtimeapi.LinuxContainerConfig{SecurityContext: sc},
		}})
		if err != nil {
			return "", err
		}
		if _, err := rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: created.ContainerId}); err != nil {
			return "", err
		}
		r, err := rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: created.ContainerId, Cmd: []string{"sh", "-c", script}, Timeout: 30})
		if err != nil {
			return "", err
		}
		return string(r.Stdout) + string(r.Stderr), nil
	}
	for _, tc := range []struct {
		name   string
		sc     *runtimeapi.LinuxContainerSecurityContext
		script string
		want   []string
	}{
		{"default", nil, "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status", []string{"Seccomp:\t0", "NoNewPrivs:\t0"}},
		{"runtime-default", &runtimeapi.LinuxContainerSecurityContext{Seccomp: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault}},
			"grep '^Seccomp:' /proc/self/status", []string{"Seccomp:\t2"}},
		{"localhost", &runtimeapi.LinuxContainerSecurityContext{Seccomp: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: profile}},
			"mkdir /d 2>&1; echo rc=$?", []string{"rc=1"}},
		{"user", &runtimeapi.LinuxContainerSecurityContext{RunAsUser: &runtimeapi.Int64Value{Value: 1000}, RunAsGroup: &runtimeapi.Int64Value{Value: 2000}, SupplementalGroups: []int64{3000}},
			"id", []string{"uid=1000 gid=2000 groups=2000,3000"}},
		{"readonly", &runtimeapi.LinuxContainerSecurityContext{ReadonlyRootfs: true, NoNewPrivs: true},
			"touch /x 2>&1; echo rc=$?; grep '^NoNewPrivs:' /proc/self/status", []string{"Read-only file system", "rc=1", "NoNewPrivs:\t1"}},
		{"caps", &runtimeapi.LinuxContainerSecurityContext{Capabilities: &runtimeapi.Capability{DropCapabilities: []string{"ALL"}, AddCapabilities: []string{"NET_ADMIN"}}},
			"grep '^CapEff:' /proc/self/status", []string{"CapEff:\t0000000000001000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := run(tc.name, tc.sc, tc.script)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output %q lacks %q", out, w)
				}
			}
		})
	}
	if _, err := run("group-only", &runtimeapi.LinuxContainerSecurityContext{RunAsGroup: &runtimeapi.Int64Value{Value: 2000}}, "id"); status.Code(err) != codes.InvalidArgument {
		t.Errorf("a run-as group without a user: %v, want InvalidArgument", err)
	}
}

// TestCRIImages: the CRI's image service is gantryd's image store: an
// image pulled with the kubelet's credentials from a registry with auth
// is the one docker images lists, and RemoveImage removes it from both;
// without credentials the pull fails.
func TestCRIImages(t *testing.T) {
	c := newCRIEnv(t, "")
	reg := startRegistry(t, c.env, true)
	ref := reg.Host + "/" + name("cri") + ":1"
	c.mustDocker(t, "tag", "busybox", ref)
	if r := c.dockerIn(t, reg.Pass+"\n", "login", "-u", reg.User, "--password-stdin", reg.Host); r.Code != 0 {
		t.Fatalf("docker login: %s", r)
	}
	c.mustDocker(t, "push", ref)
	c.mustDocker(t, "rmi", ref)

	conn, err := grpc.NewClient("unix://"+c.sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	is := runtimeapi.NewImageServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	spec := &runtimeapi.ImageSpec{Image: ref}
	if _, err := is.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec}); err == nil {
		t.Error("a pull without credentials from a registry with auth succeeded")
	}
	pulled, err := is.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec, Auth: &runtimeapi.AuthConfig{Username: reg.User, Password: reg.Pass, ServerAddress: reg.Host}})
	if err != nil {
		t.Fatal(err)
	}
	if id := strings.TrimSpace(c.mustDocker(t, "image", "inspect", "--format", "{{.ID}}", ref)); id != pulled.ImageRef {
		t.Errorf("the pulled image is %s for the CRI, %s for docker", pulled.ImageRef, id)
	}
	st, err := is.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: spec})
	if err != nil || st.Image == nil || st.Image.Id != pulled.ImageRef || !slices.Contains(st.Image.RepoTags, ref) || st.Image.Size == 0 {
		t.Errorf("image status: %v, %v", st, err)
	}
	list, err := is.ListImages(ctx, &runtimeapi.ListImagesRequest{})
	if err != nil || !slices.ContainsFunc(list.Images, func(i *runtimeapi.Image) bool { return i.Id == pulled.ImageRef }) {
		t.Errorf("list images: %v, %v", list, err)
	}
	fs, err := is.ImageFsInfo(ctx, &runtimeapi.ImageFsInfoRequest{})
	if err != nil || len(fs.ImageFilesystems) != 1 || fs.ImageFilesystems[0].UsedBytes.GetValue() == 0 {
		t.Errorf("image fs info: %v, %v", fs, err)
	}
	if _, err := is.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: spec}); err != nil {
		t.Fatal(err)
	}
	if r := c.docker(t, "image", "inspect", ref); r.Code == 0 {
		t.Errorf("docker still has the image the CRI removed")
	}
	if st, err := is.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: spec}); err != nil || st.Image != nil {
		t.Errorf("the status of a removed image: %v, %v (want no image, no error)", st, err)
	}
	if _, err := is.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: spec}); err != nil {
		t.Errorf("removing a removed image: %v", err)
	}
}

// TestCRIReboot: a reboot takes the pods' pause processes and network
// namespaces (the exec root is a tmpfs) but not their records, nor the
// addresses host-local keeps on disk: the next gantryd reports the pod
// not ready, and its stop gives the CNI plugins their DEL, which frees
// the address.
func TestCRIReboot(t *testing.T) {
	c := newCRIEnv(t, "")
	before := pausePids(t)
	pod, _ := c.runPod(t, "rebooted")
	var info struct {
		Info struct {
			Pid   int
			Netns string
		}
	}
	if err := json.Unmarshal([]byte(c.mustCrictl(t, "inspectp", pod)), &info); err != nil || info.Info.Pid == 0 || info.Info.Netns == "" {
		t.Fatalf("inspectp info %+v: %v", info, err)
	}
	c.killDaemon(t)
	// What a reboot does to them.
	if err := syscall.Kill(info.Info.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Unmount(info.Info.Netns, syscall.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	os.Remove(info.Info.Netns)
	c.startDaemon(t)
	if got := c.mustCrictl(t, "pods", "--state", "notready", "-q"); got != pod {
		t.Fatalf("not-ready pods after the reboot: %q, want %s", got, pod)
	}
	if ips, _ := filepath.Glob(filepath.Join(c.ipam, "*", "10.99.*")); len(ips) != 1 {
		t.Fatalf("addresses allocated before the stop: %v, want the pod's", ips)
	}
	c.mustCrictl(t, "stopp", pod)
	c.mustCrictl(t, "rmp", pod)
	c.checkNothingLeft(t, before)
}

// TestCRIPodCgroup: the pause process is in a cgroup of its own under the
// pod's (the kubelet's cgroup_parent), limited by the pod's overhead; the
// pod's cgroup is limited by its resources plus the overhead; a
// container's cgroup is under the pod's. A pod without a cgroup_parent
// gets one of gantry's, removed with the pod; an OOM score adjustment of a
// pod is refused naming the field.
func TestCRIPodCgroup(t *testing.T) {
	c := newCRIEnv(t, "")
	if _, err := os.Stat("/sys/fs/cgroup/memory/memory.limit_in_bytes"); err != nil {
		t.Skip("needs the cgroup v1 memory hierarchy:", err)
	}
	conn, err := grpc.NewClient("unix://"+c.sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rt := runtimeapi.NewRuntimeServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const parent = "/gantry-test/pod-cg"
	cfg := &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{Name: "cg", Namespace: "default", Uid: "uid-cg"},
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			CgroupParent: parent,
			Resources:    &runtimeapi.LinuxContainerResources{CpuShares: 512, CpuQuota: 50000, CpuPeriod: 100000, MemoryLimitInBytes: 64 << 20},
			Overhead:     &runtimeapi.LinuxContainerResources{CpuShares: 10, MemoryLimitInBytes: 16 << 20},
		},
	}
	pod, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	read := func(hier, cg, file string) string {
		b, _ := os.ReadFile(filepath.Join("/sys/fs/cgroup", hier, cg, file))
		return strings.TrimSpace(string(b))
	}
	pauseCg := parent + "/" + pod.PodSandboxId
	procs := strings.Fields(read("memory", pauseCg, "cgroup.procs"))
	if len(procs) != 1 || !slices.Contains(pausePids(t), procs[0]) {
		t.Fatalf("processes of the pause cgroup %s: %v, want the pause process (%v)", pauseCg, procs, pausePids(t))
	}
	own, _ := os.ReadFile("/proc/" + procs[0] + "/cgroup")
	for _, want := range []string{":memory:" + pauseCg + "\n", ":cpu:" + pauseCg + "\n", ":pids:" + pauseCg + "\n"} {
		if !strings.Contains(string(own), want) {
			t.Errorf("/proc/%s/cgroup has no %q:\n%s", procs[0], want, own)
		}
	}
	for _, f := range []struct{ hier, cg, file, want string }{
		{"memory", parent, "memory.limit_in_bytes", fmt.Sprint(80 << 20)},
		{"cpu", parent, "cpu.shares", "522"},
		{"cpu", parent, "cpu.cfs_quota_us", "50000"},
		{"memory", pauseCg, "memory.limit_in_bytes", fmt.Sprint(16 << 20)},
		{"cpu", pauseCg, "cpu.shares", "10"},
	} {
		if got := read(f.hier, f.cg, f.file); got != f.want {
			t.Errorf("%s of %s: %q, want %q", f.file, f.cg, got, f.want)
		}
	}
	ctr, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: pod.PodSandboxId, SandboxConfig: cfg, Config: &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: "app"}, Image: &runtimeapi.ImageSpec{Image: "busybox"}, Command: []string{"sleep", "1000"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: ctr.ContainerId}); err != nil {
		t.Fatal(err)
	}
	if got := read("memory", parent+"/"+ctr.ContainerId, "cgroup.procs"); got == "" {
		t.Errorf("the container's cgroup %s/%s has no process", parent, ctr.ContainerId)
	}
	if _, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: pod.PodSandboxId}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup/memory", pauseCg)); !os.IsNotExist(err) {
		t.Errorf("the pause cgroup is left after the pod's stop: %v", err)
	}
	if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: pod.PodSandboxId}); err != nil {
		t.Fatal(err)
	}

	// No cgroup_parent: gantry's /gantry/pod-<id>, gone with the pod.
	cfg = &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{Name: "nocg", Namespace: "default", Uid: "uid-nocg"},
		Linux:    &runtimeapi.LinuxPodSandboxConfig{Resources: &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 32 << 20}},
	}
	pod, err = rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	own2 := "/gantry/pod-" + pod.PodSandboxId
	if got := read("memory", own2, "memory.limit_in_bytes"); got != fmt.Sprint(32<<20) {
		t.Errorf("memory limit of %s: %q", own2, got)
	}
	if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: pod.PodSandboxId}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup/memory", own2)); !os.IsNotExist(err) {
		t.Errorf("the pod cgroup gantry made is left after the pod's removal: %v", err)
	}

	cfg.Metadata.Attempt = 1
	cfg.Linux.Overhead = &runtimeapi.LinuxContainerResources{OomScoreAdj: 100}
	_, err = rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
	if status.Code(err) != codes.Unimplemented || !strings.Contains(err.Error(), "linux.overhead.oom_score_adj") {
		t.Errorf("a pod's oom_score_adj: %v, want Unimplemented naming linux.overhead.oom_score_adj", err)
	}
}

// TestCRINoLiveRestore: with --live-restore=false, gantryd's shutdown
// stops the pods as it stops their containers: no pause process, network
// namespace, veth or CNI address is left, and the next gantryd lists the
// pod as not ready.
func TestCRINoLiveRestore(t *testing.T) {
	c := newCRIEnv(t, "")
	c.stopDaemon(t)
	c.d.args = append(c.d.args, "--live-restore=false")
	c.startDaemon(t)
	before := pausePids(t)
	pod, podCfg := c.runPod(t, "shortlived")
	id := c.startContainer(t, pod, podCfg, "app", "exec sleep 1000")
	if got := pausePids(t); len(got) != len(before)+1 {
		t.Fatalf("pause processes: %v (before: %v)", got, before)
	}
	c.stopDaemon(t)
	if got := pausePids(t); len(got) > len(before) {
		t.Errorf("pause processes left after gantryd's shutdown: %v (before: %v)", got, before)
	}
	if netns, _ := os.ReadDir(filepath.Join(c.d.runDir, "x", "cri", "netns")); len(netns) > 0 {
		t.Errorf("network namespaces left after gantryd's shutdown: %v", netns)
	}
	if r := c.inDaemonNet(t, "ip", "-o", "link", "show", "type", "veth"); strings.TrimSpace(r.Stdout) != "" {
		t.Errorf("veths left after gantryd's shutdown:\n%s", r.Stdout)
	}
	if ips, _ := filepath.Glob(filepath.Join(c.ipam, "*", "10.99.*")); len(ips) > 0 {
		t.Errorf("addresses still allocated after gantryd's shutdown: %v", ips)
	}
	c.startDaemon(t)
	if got := c.mustCrictl(t, "pods", "--state", "notready", "-q"); got != pod {
		t.Errorf("not-ready pods after the restart: %q, want %s", got, pod)
	}
	if got := c.mustCrictl(t, "ps", "--state", "exited", "-q"); got != id {
		t.Errorf("exited containers after the restart: %q, want %s", got, id)
	}
	c.mustCrictl(t, "rmp", pod)
	c.checkNothingLeft(t, before)
}

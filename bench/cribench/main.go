// Command cribench measures CRI runtimes side by side, as the kubelet drives
// them: pod start (RunPodSandbox + CreateContainer + StartContainer), pod
// stop (StopPodSandbox + RemovePodSandbox), container start and stop in a
// running pod, and ListContainers with many containers. The runtimes are
// measured in alternating order, round after round, so that the load of a
// shared machine falls on all of them alike. It prints the median of each
// operation per runtime and the ratio of each runtime to the last one.
//
//	cribench -image IMAGE -n 20 -scale 100 gantry=unix:///run/gantry/cri.sock containerd=unix:///run/containerd/containerd.sock
//
// bench/cri.sh runs it against a fresh gantryd and containerd.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// runtime is one CRI endpoint under test.
type runtime struct {
	name    string
	rc      runtimeapi.RuntimeServiceClient
	ic      runtimeapi.ImageServiceClient
	samples map[string][]time.Duration
}

// The operations measured, in the order they are printed.
const (
	opPodStart       = "pod start (RunPodSandbox+CreateContainer+StartContainer)"
	opPodStop        = "pod stop (StopPodSandbox+RemovePodSandbox)"
	opContainerStart = "container start (CreateContainer+StartContainer)"
	opContainerStop  = "container stop (StopContainer+RemoveContainer)"
	opList           = "ListContainers"
)

var ops = []string{opPodStart, opPodStop, opContainerStart, opContainerStop, opList}

func main() {
	image := flag.String("image", "registry.k8s.io/e2e-test-images/busybox:1.29-2", "image of the containers")
	n := flag.Int("n", 20, "rounds of the pod and container operations")
	scale := flag.Int("scale", 100, "containers present while ListContainers is measured")
	lists := flag.Int("lists", 30, "ListContainers calls measured per runtime")
	logDir := flag.String("log-dir", os.TempDir(), "directory of the pods' log directories")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: %s [flags] NAME=unix://SOCKET...\n", os.Args[0])
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	ctx := context.Background()
	var rts []*runtime
	for _, arg := range flag.Args() {
		name, endpoint, ok := strings.Cut(arg, "=")
		if !ok {
			fatalf("%q: want NAME=unix://SOCKET", arg)
		}
		conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			fatalf("%s: %v", name, err)
		}
		defer conn.Close()
		rts = append(rts, &runtime{
			name: name, rc: runtimeapi.NewRuntimeServiceClient(conn), ic: runtimeapi.NewImageServiceClient(conn),
			samples: map[string][]time.Duration{},
		})
	}
	b := &bench{image: *image, logDir: *logDir}
	for _, rt := range rts {
		if _, err := rt.ic.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: b.image}}); err != nil {
			fatalf("%s: pull %s: %v", rt.name, b.image, err)
		}
		// One round unmeasured: caches, the CNI plugins' first exec.
		if err := b.round(ctx, rt, false); err != nil {
			fatalf("%s: %v", rt.name, err)
		}
	}
	for i := range *n {
		for _, rt := range rotate(rts, i) {
			if err := b.round(ctx, rt, true); err != nil {
				fatalf("%s: %v", rt.name, err)
			}
		}
	}
	for _, rt := range rts {
		if err := b.list(ctx, rt, *scale, *lists); err != nil {
			fatalf("%s: %v", rt.name, err)
		}
	}
	report(rts, *n, *scale)
}

// rotate returns rts starting at the i-th, so that no runtime always goes
// first.
func rotate(rts []*runtime, i int) []*runtime {
	k := i % len(rts)
	return append(slices.Clone(rts[k:]), rts[:k]...)
}

type bench struct {
	image  string
	logDir string
}

func (b *bench) podConfig(name string) (*runtimeapi.PodSandboxConfig, error) {
	id := randID()
	dir := filepath.Join(b.logDir, "cribench-"+id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: name + "-" + id, Uid: id, Namespace: "cribench"},
		Hostname:     "cribench",
		LogDirectory: dir,
		Labels:       map[string]string{"cribench": "1"},
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: kubeletNamespaces},
		},
	}, nil
}

func (b *bench) containerConfig(name string) *runtimeapi.ContainerConfig {
	return &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: name},
		Image:    &runtimeapi.ImageSpec{Image: b.image},
		// Exits on SIGTERM, as a well-behaved workload.
		Command: []string{"sh", "-c", `trap "exit 0" TERM; sleep 3600 & wait`},
		LogPath: name + ".log",
		Linux: &runtimeapi.LinuxContainerConfig{
			SecurityContext: &runtimeapi.LinuxContainerSecurityContext{NamespaceOptions: kubeletNamespaces},
		},
	}
}

// kubeletNamespaces are the namespaces the kubelet asks for a pod without
// shareProcessNamespace or host namespaces: the pod's network and IPC, a
// PID namespace per container (the CRI's zero value would be the pod's).
var kubeletNamespaces = &runtimeapi.NamespaceOption{
	Network: runtimeapi.NamespaceMode_POD,
	Pid:     runtimeapi.NamespaceMode_CONTAINER,
	Ipc:     runtimeapi.NamespaceMode_POD,
}

// round starts a pod with a container, starts and stops a second
// container in it, and stops and removes the pod, recording the durations
// when record is true.
func (b *bench) round(ctx context.Context, rt *runtime, record bool) error {
	add := func(op string, d time.Duration) {
		if record {
			rt.samples[op] = append(rt.samples[op], d)
		}
	}
	cfg, err := b.podConfig("pod")
	if err != nil {
		return err
	}
	defer os.RemoveAll(cfg.LogDirectory)
	start := time.Now()
	podID, err := b.startPod(ctx, rt, cfg)
	if err != nil {
		return err
	}
	add(opPodStart, time.Since(start))

	start = time.Now()
	cid, err := b.startContainer(ctx, rt, podID, cfg, "second")
	if err != nil {
		return err
	}
	add(opContainerStart, time.Since(start))
	start = time.Now()
	if _, err := rt.rc.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: cid, Timeout: 10}); err != nil {
		return fmt.Errorf("StopContainer: %w", err)
	}
	if _, err := rt.rc.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: cid}); err != nil {
		return fmt.Errorf("RemoveContainer: %w", err)
	}
	add(opContainerStop, time.Since(start))

	start = time.Now()
	if err := stopPod(ctx, rt, podID); err != nil {
		return err
	}
	add(opPodStop, time.Since(start))
	return nil
}

// startPod runs a sandbox and starts a container in it: what the kubelet
// does to start a one-container pod whose image is present.
func (b *bench) startPod(ctx context.Context, rt *runtime, cfg *runtimeapi.PodSandboxConfig) (string, error) {
	pod, err := rt.rc.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		return "", fmt.Errorf("RunPodSandbox: %w", err)
	}
	if _, err := b.startContainer(ctx, rt, pod.PodSandboxId, cfg, "main"); err != nil {
		return "", err
	}
	return pod.PodSandboxId, nil
}

func (b *bench) startContainer(ctx context.Context, rt *runtime, podID string, cfg *runtimeapi.PodSandboxConfig, name string) (string, error) {
	c, err := rt.rc.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{
		PodSandboxId: podID, Config: b.containerConfig(name), SandboxConfig: cfg,
	})
	if err != nil {
		return "", fmt.Errorf("CreateContainer: %w", err)
	}
	if _, err := rt.rc.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c.ContainerId}); err != nil {
		return "", fmt.Errorf("StartContainer: %w", err)
	}
	return c.ContainerId, nil
}

func stopPod(ctx context.Context, rt *runtime, podID string) error {
	if _, err := rt.rc.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: podID}); err != nil {
		return fmt.Errorf("StopPodSandbox: %w", err)
	}
	if _, err := rt.rc.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podID}); err != nil {
		return fmt.Errorf("RemovePodSandbox: %w", err)
	}
	return nil
}

// list starts scale containers (ten per pod), times ListContainers calls
// meanwhile, and removes the pods.
func (b *bench) list(ctx context.Context, rt *runtime, scale, calls int) error {
	const perPod = 10
	var pods []string
	defer func() {
		for _, id := range pods {
			stopPod(ctx, rt, id)
		}
	}()
	for started := 0; started < scale; {
		cfg, err := b.podConfig("list")
		if err != nil {
			return err
		}
		defer os.RemoveAll(cfg.LogDirectory)
		pod, err := rt.rc.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
		if err != nil {
			return fmt.Errorf("RunPodSandbox: %w", err)
		}
		pods = append(pods, pod.PodSandboxId)
		for i := 0; i < perPod && started < scale; i++ {
			if _, err := b.startContainer(ctx, rt, pod.PodSandboxId, cfg, fmt.Sprintf("c%d", i)); err != nil {
				return err
			}
			started++
		}
	}
	for range calls {
		start := time.Now()
		resp, err := rt.rc.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
		if err != nil {
			return fmt.Errorf("ListContainers: %w", err)
		}
		rt.samples[opList] = append(rt.samples[opList], time.Since(start))
		if len(resp.Containers) < scale {
			return fmt.Errorf("ListContainers listed %d containers, want at least %d", len(resp.Containers), scale)
		}
	}
	return nil
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// report prints one line per operation: each runtime's median, then the
// ratio of each other runtime's median to the last runtime's.
func report(rts []*runtime, n, scale int) {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	base := rts[len(rts)-1]
	head := []string{"median of " + fmt.Sprint(n) + " rounds"}
	for _, rt := range rts {
		head = append(head, rt.name)
	}
	for _, rt := range rts[:len(rts)-1] {
		head = append(head, rt.name+"/"+base.name)
	}
	fmt.Fprintln(w, strings.Join(head, "\t"))
	for _, op := range ops {
		label := op
		if op == opList {
			label = fmt.Sprintf("%s (%d containers)", op, scale)
		}
		row := []string{label}
		for _, rt := range rts {
			row = append(row, fmt.Sprintf("%.1fms", float64(median(rt.samples[op]))/1e6))
		}
		for _, rt := range rts[:len(rts)-1] {
			row = append(row, fmt.Sprintf("%.2fx", float64(median(rt.samples[op]))/float64(median(base.samples[op]))))
		}
		fmt.Fprintln(w, strings.Join(row, "\t"))
	}
	w.Flush()
}

func randID() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "cribench: "+format+"\n", args...)
	os.Exit(1)
}

package integration

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The tests of an interrupted pull: the client gone, the network cut and
// gantryd killed, each while the big layer of a two-layer image is on its
// way through a throttling proxy and after the small layer was pulled. None
// may leave an image, a tag, staging files or mounts, and the next pull must
// not download the small layer again.

// bigLayerSize is the random data of the big layer: about 4 s through the
// throttling proxy.
const bigLayerSize = 20_000_000

// TestPullClientGone kills the docker CLI during a pull.
func TestPullClientGone(t *testing.T) {
	e := newEnv(t)
	if e.External {
		t.Skip("checks gantryd's staging, log and garbage collection")
	}
	reg := startRegistry(t, e, false)
	img := pushTwoLayerImage(t, e, reg)
	proxy := startThrottleProxy(t, e, reg.Host)
	before := e.allImageIDs(t)

	held := proxy.hold(img.big.Digest, 2<<20)
	pull := startPull(t, e, proxy.Host+"/"+img.path)
	pull.waitFor(t, shortHex(img.small.Digest)+": Pull complete")
	waitClosed(t, held, "the proxy served part of the big layer")
	pull.kill()

	e.checkNoPartialPull(t, before, proxy.Host+"/"+img.path)
	// Removing an unrelated image collects garbage: the small layer stays.
	e.collectGarbageNow(t)
	proxy.release()
	e.checkRepullReuses(t, proxy, proxy.Host+"/"+img.path, img)

	// The image references its layers now: removing it frees them.
	e.mustDocker(t, "rmi", proxy.Host+"/"+img.path)
	for _, d := range []digest.Digest{img.small.Digest, img.big.Digest} {
		if _, err := os.Stat(filepath.Join(e.Root, "content", "blobs", "sha256", d.Encoded())); !os.IsNotExist(err) {
			t.Errorf("blob %s still stored after the image using it was removed (%v)", d, err)
		}
	}
}

// TestPullNetworkCut cuts every connection that serves the big layer
// part-way: the pull resumes with Range requests, then fails naming the
// layer.
func TestPullNetworkCut(t *testing.T) {
	e := newEnv(t)
	if e.External {
		t.Skip("checks gantryd's staging, log and registry client")
	}
	reg := startRegistry(t, e, false)
	img := pushTwoLayerImage(t, e, reg)
	proxy := startThrottleProxy(t, e, reg.Host)
	before := e.allImageIDs(t)

	proxy.cut(img.big.Digest, 1<<20)
	r := e.docker(t, "pull", proxy.Host+"/"+img.path)
	want := fmt.Sprintf("layer %s: read blob %[1]s: unexpected EOF (after 3 resumes)", img.big.Digest)
	if r.Code != 1 || strings.TrimSpace(r.Stderr) != want {
		t.Errorf("pull through a proxy that cuts the big layer: %s\nwant exit code 1 and %q", r, want)
	}
	// The first GET, then one resume per cut, each where the last stopped.
	var ranges []string
	for _, req := range proxy.requests() {
		if req.Method == http.MethodGet && req.Digest == img.big.Digest {
			ranges = append(ranges, req.Range)
		}
	}
	if want := []string{"", "bytes=1048576-", "bytes=2097152-", "bytes=3145728-"}; !slices.Equal(ranges, want) {
		t.Errorf("GETs of the big layer with Range %q, want %q", ranges, want)
	}
	e.checkNoPartialPull(t, before, proxy.Host+"/"+img.path)

	out := e.mustDocker(t, "pull", reg.Host+"/"+img.path)
	if want := shortHex(img.small.Digest) + ": Already exists"; !strings.Contains(out, want) {
		t.Errorf("pull after the cut lacks %q:\n%s", want, out)
	}
	e.checkRuns(t, reg.Host+"/"+img.path)
}

// TestPullDaemonKilled kills gantryd with SIGKILL during a pull and starts
// it again.
func TestPullDaemonKilled(t *testing.T) {
	e := newEnv(t)
	e.needPrivateDaemon(t)
	reg := startRegistry(t, e, false)
	img := pushTwoLayerImage(t, e, reg)
	proxy := startThrottleProxy(t, e, reg.Host)
	before := e.allImageIDs(t)

	held := proxy.hold(img.big.Digest, 2<<20)
	pull := startPull(t, e, proxy.Host+"/"+img.path)
	pull.waitFor(t, shortHex(img.small.Digest)+": Pull complete")
	waitClosed(t, held, "the proxy served part of the big layer")
	e.killDaemon(t)
	if err := pull.wait(); err == nil {
		t.Errorf("docker pull succeeded although gantryd was killed:\n%s", pull.output())
	}

	e.startDaemon(t)
	if left, err := os.ReadDir(filepath.Join(e.Root, "tmp")); err != nil || len(left) != 0 {
		t.Errorf("tmp/ after the restart: %v %v, want it empty", left, err)
	}
	verifyBlobs(t, e.Root)
	e.checkNoPartialPull(t, before, proxy.Host+"/"+img.path)
	proxy.release()
	e.checkRepullReuses(t, proxy, proxy.Host+"/"+img.path, img)
}

// twoLayerImage is an image in a test registry: busybox (the small layer)
// and bigLayerSize random bytes in /big.
type twoLayerImage struct {
	path       string // repository path and tag, without the registry host
	small, big ocispec.Descriptor
}

// pushTwoLayerImage builds the image, pushes it to reg and removes it and
// busybox from the daemon, so that a pull has both layers to fetch.
func pushTwoLayerImage(t *testing.T, e *env, reg *testRegistry) twoLayerImage {
	t.Helper()
	img := twoLayerImage{path: name("pullint") + ":1"}
	ref := reg.Host + "/" + img.path
	dir := t.TempDir()
	dockerfile := "FROM busybox\nRUN head -c " + strconv.Itoa(bigLayerSize) + " /dev/urandom > /big\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	e.mustDocker(t, "build", "-q", "-t", ref, dir)
	e.mustDocker(t, "push", ref)
	e.mustDocker(t, "rmi", ref, "busybox")

	repo, tag, _ := strings.Cut(img.path, ":")
	req, err := http.NewRequest(http.MethodGet, "http://"+reg.Host+"/v2/"+repo+"/manifests/"+tag, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", ocispec.MediaTypeImageManifest+", application/vnd.docker.distribution.manifest.v2+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m ocispec.Manifest
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || len(m.Layers) != 2 {
		t.Fatalf("manifest of %s: %v, %d layers, want 2", ref, err, len(m.Layers))
	}
	img.small, img.big = m.Layers[0], m.Layers[1]
	if img.big.Size < bigLayerSize {
		t.Fatalf("the big layer has %d bytes, want at least %d", img.big.Size, bigLayerSize)
	}
	return img
}

// checkNoPartialPull checks what an interrupted pull of ref must leave:
// the images of before, no ref, no staging files (in time: a cancelled pull
// cleans up in the background), no mounts, no panic in gantryd's log.
func (e *env) checkNoPartialPull(t *testing.T, before []string, ref string) {
	t.Helper()
	if after := e.allImageIDs(t); !slices.Equal(after, before) {
		t.Errorf("images after the interrupted pull: %v, want %v", after, before)
	}
	if r := e.docker(t, "image", "inspect", ref); r.Code == 0 {
		t.Errorf("the interrupted pull left %s", ref)
	}
	poll(t, 30*time.Second, "tmp/ emptied", func() (bool, string) {
		left, err := os.ReadDir(filepath.Join(e.Root, "tmp"))
		return err == nil && len(left) == 0, strings.TrimSpace(strings.Join(dirNames(left), " ") + " " + errString(err))
	})
	if m := e.leftoverMounts(); len(m) > 0 {
		t.Errorf("mounted under the data root after the interrupted pull:\n%s", strings.Join(m, "\n"))
	}
	if log, err := os.ReadFile(e.d.log); err != nil || bytes.Contains(log, []byte("panic")) {
		t.Errorf("gantryd's log has a panic (%v):\n%s", err, tail(e.d.log, 60))
	}
}

// checkRepullReuses pulls ref through proxy again: the small layer, pulled
// before the interruption, must not be fetched again, and the image runs.
func (e *env) checkRepullReuses(t *testing.T, proxy *throttleProxy, ref string, img twoLayerImage) {
	t.Helper()
	mark := len(proxy.requests())
	out := e.mustDocker(t, "pull", ref)
	if want := shortHex(img.small.Digest) + ": Already exists"; !strings.Contains(out, want) {
		t.Errorf("pull after the interruption lacks %q:\n%s", want, out)
	}
	for _, req := range proxy.requests()[mark:] {
		if req.Method == http.MethodGet && req.Digest == img.small.Digest {
			t.Errorf("the small layer, pulled before the interruption, was downloaded again: %+v", req)
		}
	}
	e.checkRuns(t, ref)
}

// checkRuns runs the pulled image: /big has its size.
func (e *env) checkRuns(t *testing.T, ref string) {
	t.Helper()
	if out := e.mustDocker(t, "run", "--rm", ref, "sh", "-c", "wc -c < /big"); strings.TrimSpace(out) != strconv.Itoa(bigLayerSize) {
		t.Errorf("run of the pulled image: wc -c /big = %q, want %d", out, bigLayerSize)
	}
}

// collectGarbageNow makes gantryd collect garbage, as every image removal
// does: it imports an image of one small file and removes it.
func (e *env) collectGarbageNow(t *testing.T) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "gc", Mode: 0o644, Size: 2, Typeflag: tar.TypeReg})
	tw.Write([]byte("gc"))
	tw.Close()
	ref := name("gc") + ":1"
	if r := e.dockerIn(t, buf.String(), "import", "-", ref); r.Code != 0 {
		t.Fatalf("docker import: %s", r)
	}
	e.mustDocker(t, "rmi", ref)
}

// backgroundPull is a docker pull running while the test interrupts it.
type backgroundPull struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the CLI exited and its output is read
	err  error         // its exit, once done is closed

	mu  sync.Mutex
	out []string // stdout lines, then stderr
}

// startPull starts docker pull ref; it is killed when the test ends.
func startPull(t *testing.T, e *env, ref string) *backgroundPull {
	t.Helper()
	p := &backgroundPull{cmd: exec.Command("docker", "pull", ref), done: make(chan struct{})}
	p.cmd.Env = e.clientEnv()
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	p.cmd.Stderr = &stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.mu.Lock()
			p.out = append(p.out, sc.Text())
			p.mu.Unlock()
		}
		p.err = p.cmd.Wait()
		p.mu.Lock()
		p.out = append(p.out, "stderr: "+stderr.String())
		p.mu.Unlock()
		close(p.done)
	}()
	t.Cleanup(p.kill)
	return p
}

// waitFor waits until the pull prints line.
func (p *backgroundPull) waitFor(t *testing.T, line string) {
	t.Helper()
	poll(t, 2*time.Minute, "docker pull prints "+line, func() (bool, string) {
		p.mu.Lock()
		found := slices.Contains(p.out, line)
		p.mu.Unlock()
		select {
		case <-p.done:
			if !found {
				t.Fatalf("docker pull ended (%v) without printing %q:\n%s", p.err, line, p.output())
			}
		default:
		}
		return found, p.output()
	})
}

// kill kills the docker CLI and waits for it.
func (p *backgroundPull) kill() {
	p.cmd.Process.Kill()
	<-p.done
}

// wait waits for the CLI to exit and returns how it did.
func (p *backgroundPull) wait() error {
	<-p.done
	return p.err
}

func (p *backgroundPull) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.out, "\n")
}

// throttleProxy is a reverse proxy in front of a registry that serves blob
// bodies slowly (throttleChunk per throttlePause), logs the blob requests,
// and on demand holds one blob part-way or cuts every connection that
// serves it part-way.
type throttleProxy struct {
	Host string // 127.0.0.1:<port>, reachable from the daemon

	mu       sync.Mutex
	log      []blobRequest
	rules    map[digest.Digest]*blobRule
	released chan struct{}
}

// blobRule says what happens to a blob's GETs once after bytes of the body
// went out: held until release (reached is closed then), or cut.
type blobRule struct {
	after   int64
	cut     bool
	reached chan struct{}
	once    sync.Once
}

// blobRequest is a request for a blob that the proxy saw.
type blobRequest struct {
	Method string
	Digest digest.Digest
	Range  string
}

const (
	throttleChunk = 256 << 10
	throttlePause = 50 * time.Millisecond
)

// startThrottleProxy starts the proxy to the registry at host, reachable
// from e's daemon; it stops when the test ends.
func startThrottleProxy(t *testing.T, e *env, host string) *throttleProxy {
	t.Helper()
	p := &throttleProxy{rules: map[digest.Digest]*blobRule{}, released: make(chan struct{})}
	target, _ := url.Parse("http://" + host)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.FlushInterval = -1
	rp.ErrorLog = log.New(io.Discard, "", 0) // the cancelled requests are the point
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.URL.Path, "/blobs/sha256:") {
			rp.ServeHTTP(w, r)
			return
		}
		d := digest.Digest(path.Base(r.URL.Path))
		p.mu.Lock()
		p.log = append(p.log, blobRequest{Method: r.Method, Digest: d, Range: r.Header.Get("Range")})
		rule := p.rules[d]
		p.mu.Unlock()
		rp.ServeHTTP(&slowWriter{ResponseWriter: w, ctx: r.Context(), p: p, rule: rule}, r)
	}))
	t.Cleanup(func() {
		p.release()
		srv.CloseClientConnections()
		srv.Close()
	})
	p.Host = srv.Listener.Addr().String()
	e.forwardToDaemonNet(t, p.Host)
	return p
}

// hold makes GETs of blob d stop after after bytes of the body until
// release; the channel is closed when one got there.
func (p *throttleProxy) hold(d digest.Digest, after int64) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	rule := &blobRule{after: after, reached: make(chan struct{})}
	p.rules[d] = rule
	return rule.reached
}

// cut makes every GET of blob d close its connection after after bytes of
// the body.
func (p *throttleProxy) cut(d digest.Digest, after int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules[d] = &blobRule{after: after, cut: true, reached: make(chan struct{})}
}

// release lets held bodies go on and ends every rule.
func (p *throttleProxy) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.released:
	default:
		close(p.released)
	}
	p.rules = map[digest.Digest]*blobRule{}
}

// requests returns the blob requests seen so far, oldest first.
func (p *throttleProxy) requests() []blobRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.log)
}

// slowWriter is the response writer of a blob request: it throttles the
// body and applies the blob's rule.
type slowWriter struct {
	http.ResponseWriter
	ctx  context.Context
	p    *throttleProxy
	rule *blobRule // nil: none
	n    int64     // body bytes written
	cut  bool      // the connection is closed
}

var errCut = errors.New("connection cut by the test proxy")

func (w *slowWriter) Write(b []byte) (int, error) {
	if w.cut {
		return 0, errCut
	}
	written := 0
	for len(b) > 0 {
		if w.rule != nil && w.n == w.rule.after {
			if err := w.applyRule(); err != nil {
				return written, err
			}
		}
		chunk := min(int64(len(b)), throttleChunk-w.n%throttleChunk)
		if w.rule != nil && w.rule.after > w.n {
			chunk = min(chunk, w.rule.after-w.n)
		}
		n, err := w.ResponseWriter.Write(b[:chunk])
		written += n
		w.n += int64(n)
		b = b[n:]
		if err != nil {
			return written, err
		}
		if w.n%throttleChunk == 0 {
			w.Flush()
			select {
			case <-time.After(throttlePause):
			case <-w.ctx.Done():
				return written, w.ctx.Err()
			}
		}
	}
	return written, nil
}

// applyRule holds the body until release (or the client leaves), or cuts
// the connection.
func (w *slowWriter) applyRule() error {
	w.Flush()
	w.rule.once.Do(func() { close(w.rule.reached) })
	if w.rule.cut {
		conn, _, err := http.NewResponseController(w.ResponseWriter).Hijack()
		if err == nil {
			conn.Close()
		}
		w.cut = true
		return errCut
	}
	select {
	case <-w.p.released:
		w.rule = nil
		return nil
	case <-w.ctx.Done():
		return w.ctx.Err()
	}
}

func (w *slowWriter) Flush() {
	if !w.cut {
		http.NewResponseController(w.ResponseWriter).Flush()
	}
}

func (w *slowWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// waitClosed waits for ch to be closed, failing the test after 2 minutes.
func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(2 * time.Minute):
		t.Fatalf("%s: not within 2 minutes", what)
	}
}

// shortHex is how pull progress names a layer: 12 hex digits of its digest.
func shortHex(d digest.Digest) string { return d.Encoded()[:12] }

func dirNames(entries []os.DirEntry) []string {
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestPullGarbageCollectedMeanwhile removes an image while a pull that
// reuses its layer waits on the network: the removal does not wait for the
// pull, and its garbage collection leaves the layer the pull found here.
func TestPullGarbageCollectedMeanwhile(t *testing.T) {
	e := newEnv(t)
	if e.External {
		t.Skip("checks gantryd's garbage collection")
	}
	reg := startRegistry(t, e, false)
	// An image of busybox's layer alone, in the registry and here: the
	// two-layer image's small layer "Already exists" in the pull.
	base := reg.Host + "/" + name("pullgc") + ":1"
	e.mustDocker(t, "tag", "busybox", base)
	e.mustDocker(t, "push", base)
	img := pushTwoLayerImage(t, e, reg)
	proxy := startThrottleProxy(t, e, reg.Host)

	held := proxy.hold(img.big.Digest, 2<<20)
	pull := startPull(t, e, proxy.Host+"/"+img.path)
	pull.waitFor(t, shortHex(img.small.Digest)+": Already exists")
	waitClosed(t, held, "the proxy served part of the big layer")

	e.rmiMeanwhile(t, base, "a pull waits on the network")
	if _, err := os.Stat(filepath.Join(e.Root, "content", "blobs", "sha256", img.small.Digest.Encoded())); err != nil {
		t.Errorf("the blob the pull found here was collected: %v", err)
	}

	proxy.release()
	if err := pull.wait(); err != nil {
		t.Fatalf("docker pull: %v\n%s", err, pull.output())
	}
	e.checkRuns(t, proxy.Host+"/"+img.path)
	e.mustDocker(t, "rmi", proxy.Host+"/"+img.path)
}

// rmiMeanwhile removes the image ref while an operation (what) waits on
// its client or the network, failing the test unless the removal returns
// within a minute: garbage collection must not wait for the operation.
func (e *env) rmiMeanwhile(t *testing.T, ref, what string) {
	t.Helper()
	removed := make(chan result, 1)
	go func() { removed <- e.docker(t, "rmi", ref) }()
	select {
	case r := <-removed:
		if r.Code != 0 {
			t.Fatalf("docker rmi %s while %s: %s", ref, what, r)
		}
	case <-time.After(time.Minute):
		t.Fatalf("docker rmi %s did not return within a minute while %s", ref, what)
	}
}

package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The tests of gantryd as a program: its locks, listeners, configuration
// file and reload.

func (e *env) needGantryd(t *testing.T) {
	t.Helper()
	e.needPrivateDaemon(t)
	if e.d.isDockerd() {
		t.Skip("tests gantryd's own flags and messages")
	}
}

// gantrydBin is the gantryd under test.
func gantrydBin(t *testing.T) string {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	bin := filepath.Join(binDir, "gantryd")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s not found: run make build first", bin)
	}
	return bin
}

// runGantryd runs gantryd with args in the network namespace netns (a
// path) and returns how it exited; one still running after timeout is
// killed and fails the test.
func runGantryd(t *testing.T, netns string, timeout time.Duration, args ...string) result {
	t.Helper()
	bin := gantrydBin(t)
	cmd := exec.Command("nsenter", append([]string{"--net=" + netns, "--", bin}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(timeout):
		cmd.Process.Kill()
		<-done
		t.Fatalf("gantryd %s still running after %s; it should have refused to start. stderr:\n%s", strings.Join(args, " "), timeout, stderr.String())
	}
	return result{Stdout: stdout.String(), Stderr: stderr.String(), Code: cmd.ProcessState.ExitCode()}
}

// TestDataRootLock: a second gantryd on the data root (or the exec root)
// of a running one refuses to start, naming the first one's PID, and
// leaves its containers alone: the container keeps running and its
// published port keeps answering. (A second gantryd used to mark it
// exited, removing its veth and DNAT rule.)
func TestDataRootLock(t *testing.T) {
	e := newEnv(t)
	e.needGantryd(t)
	port := randomPort()
	n := name("locked")
	e.mustDocker(t, append([]string{"run", "-d", "--name", n, "-p", port + ":80"}, httpd("still-here")...)...)
	e.waitHTTP(t, "http://127.0.0.1:"+port+"/", "still-here")
	pid := strconv.Itoa(e.d.cmd.Process.Pid)
	other := t.TempDir()

	for _, tc := range []struct {
		what string
		args []string
		want string
	}{
		{"data root", []string{"--data-root", e.Root, "--exec-root", filepath.Join(other, "x")},
			"gantryd: data root " + e.Root + " is in use by gantryd (pid " + pid + ")"},
		{"exec root", []string{"--data-root", filepath.Join(other, "root"), "--exec-root", filepath.Join(e.d.runDir, "x")},
			"gantryd: exec root " + filepath.Join(e.d.runDir, "x") + " is in use by gantryd (pid " + pid + ")"},
	} {
		t.Run(tc.what, func(t *testing.T) {
			args := append(tc.args, "-H", "unix://"+filepath.Join(other, "s.sock"))
			r := runGantryd(t, e.d.netns, 20*time.Second, args...)
			if r.Code != 1 || !strings.HasPrefix(r.Stderr, tc.want+"\n") {
				t.Errorf("second gantryd on the %s:\n%s\nwant exit code 1 and %q", tc.what, r, tc.want)
			}
			if got := e.inspectField(t, n, "{{.State.Status}}"); got != "running" {
				t.Errorf("the first gantryd's container is %s", got)
			}
			e.waitHTTP(t, "http://127.0.0.1:"+port+"/", "still-here")
			if len(e.dnatRules(t, port)) == 0 {
				t.Errorf("the DNAT rule of port %s is gone", port)
			}
		})
	}
}

// writeFile writes content to a new file named name in a temporary
// directory and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestListenerRefusedFirst: an address that cannot be served (a port in
// use, a certificate that does not load, a bad address, plain TCP on a
// public address) stops gantryd before it touches its data root or the
// network. (-H tcp:// used to be refused after the network was set up.)
func TestListenerRefusedFirst(t *testing.T) {
	gantrydBin(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"port in use", []string{"-H", "tcp://127.0.0.1:2390", "-H", "tcp://127.0.0.1:2390"}, "address already in use"},
		{"certificate", []string{"-H", "tcp://127.0.0.1:2391", "--tlsverify", "--tlscacert", "/nonexistent/ca.pem", "--tlscert", "/nonexistent/cert.pem", "--tlskey", "/nonexistent/key.pem"},
			`gantryd: invalid TLS configuration: could not load X509 key pair (cert: "/nonexistent/cert.pem", key: "/nonexistent/key.pem")`},
		{"address", []string{"-H", "udp://127.0.0.1:2392"}, "gantryd: invalid bind address format: udp://127.0.0.1:2392"},
		{"public plain TCP", []string{"-H", "tcp://0.0.0.0:2393"}, "gantryd: -H tcp://0.0.0.0:2393: refusing to serve the API on a non-loopback address without --tlsverify"},
		{"group", []string{"-H", "unix://" + filepath.Join(dir, "g.sock"), "--group", "no-such-group-" + randHex(3)}, "gantryd: could not change group of unix socket " + filepath.Join(dir, "g.sock") + ": group: unknown group no-such-group-"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			netns := newNetNS(t)
			root := filepath.Join(dir, randHex(4))
			args := append([]string{"--data-root", root, "--exec-root", root + "-exec"}, tc.args...)
			r := runGantryd(t, netns, 20*time.Second, args...)
			if r.Code != 1 || !strings.Contains(r.Stderr, tc.want) {
				t.Errorf("gantryd %s:\n%s\nwant exit code 1 and %q", strings.Join(tc.args, " "), r, tc.want)
			}
			for _, p := range []string{root, root + "-exec"} {
				if _, err := os.Stat(p); err == nil {
					t.Errorf("%s was created before the listener was refused", p)
				}
			}
			if out, err := exec.Command("ip", "-n", filepath.Base(netns), "-o", "link").CombinedOutput(); err != nil || strings.Contains(string(out), "gantry0") {
				t.Errorf("network set up before the listener was refused (%v):\n%s", err, out)
			}
		})
	}
}

// testCerts are a CA, a server certificate for 127.0.0.1 and localhost, a
// client certificate from the CA and one from another CA, each client's
// files laid out as the docker CLI wants them in DOCKER_CERT_PATH.
type testCerts struct {
	ca, serverCert, serverKey string
	client, stranger          string // directories with ca.pem, cert.pem, key.pem
}

func newTestCerts(t *testing.T) testCerts {
	t.Helper()
	dir := t.TempDir()
	caKey, caCert := newCA(t, "gantry test CA")
	otherKey, otherCert := newCA(t, "another CA")
	c := testCerts{ca: filepath.Join(dir, "ca.pem"), serverCert: filepath.Join(dir, "server-cert.pem"), serverKey: filepath.Join(dir, "server-key.pem"),
		client: filepath.Join(dir, "client"), stranger: filepath.Join(dir, "stranger")}
	writePEM(t, c.ca, "CERTIFICATE", caCert.Raw)
	issue(t, caKey, caCert, &x509.Certificate{
		Subject: pkix.Name{CommonName: "gantryd"}, DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, c.serverCert, c.serverKey)
	for _, cl := range []struct {
		dir    string
		key    *ecdsa.PrivateKey
		issuer *x509.Certificate
	}{{c.client, caKey, caCert}, {c.stranger, otherKey, otherCert}} {
		os.MkdirAll(cl.dir, 0o700)
		writePEM(t, filepath.Join(cl.dir, "ca.pem"), "CERTIFICATE", caCert.Raw) // both trust the server
		issue(t, cl.key, cl.issuer, &x509.Certificate{
			Subject: pkix.Name{CommonName: "client"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}, filepath.Join(cl.dir, "cert.pem"), filepath.Join(cl.dir, "key.pem"))
	}
	return c
}

func newCA(t *testing.T, name string) (*ecdsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert
}

// issue signs tmpl with the CA's key and writes the certificate and its
// new key as PEM files.
func issue(t *testing.T, caKey *ecdsa.PrivateKey, ca, tmpl *x509.Certificate, certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, certPath, "CERTIFICATE", der)
	writePEM(t, keyPath, "EC PRIVATE KEY", keyDER)
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// dialInNetNS opens a TCP connection to addr from inside the network
// namespace netns (a socket stays in the namespace it was made in).
func dialInNetNS(t *testing.T, netns, addr string) (net.Conn, error) {
	t.Helper()
	goruntime.LockOSThread() // left locked if the thread cannot get back: it then dies with the goroutine
	own, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	target, err := os.Open(netns)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		t.Fatalf("enter %s: %v", netns, err)
	}
	c, derr := net.DialTimeout("tcp", addr, 5*time.Second)
	if err := unix.Setns(int(own.Fd()), unix.CLONE_NEWNET); err != nil {
		t.Fatalf("return from %s: %v", netns, err)
	}
	goruntime.UnlockOSThread()
	return c, derr
}

// ping sends GET /_ping on c and returns the answer's body.
func ping(c net.Conn) (string, error) {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET /_ping HTTP/1.1\r\nHost: gantryd\r\nConnection: close\r\n\r\n"); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

// TestRemoteTLS: gantryd on a unix socket and on TCP with --tlsverify, as
// dockerd: the docker CLI with DOCKER_HOST=tcp://, DOCKER_TLS_VERIFY and
// DOCKER_CERT_PATH works against it; a client without a certificate, one
// with a certificate from another CA and plain HTTP are refused.
func TestRemoteTLS(t *testing.T) {
	e := newEnv(t)
	e.needGantryd(t)
	certs := newTestCerts(t)
	const addr = "127.0.0.1:2376"
	e.stopDaemon(t)
	e.d.args = []string{"-H", "tcp://" + addr, "--tlsverify", "--tlscacert", certs.ca, "--tlscert", certs.serverCert, "--tlskey", certs.serverKey}
	e.startDaemon(t)

	docker := func(certDir string, args ...string) result {
		return e.inDaemonNet(t, "env", append([]string{"DOCKER_HOST=tcp://" + addr, "DOCKER_TLS_VERIFY=1", "DOCKER_CERT_PATH=" + certDir, "docker"}, args...)...)
	}
	if r := docker(certs.client, "version", "--format", "{{.Server.Version}}"); r.Code != 0 || strings.TrimSpace(r.Stdout) == "" {
		t.Fatalf("docker version over TLS:\n%s", r)
	}
	n := name("tls")
	if r := docker(certs.client, "run", "--name", n, "busybox", "echo", "over tls"); r.Code != 0 || r.Stdout != "over tls\n" {
		t.Errorf("docker run over TLS:\n%s", r)
	}
	if got := e.inspectField(t, n, "{{.State.ExitCode}}"); got != "0" {
		t.Errorf("the container run over TLS, seen on the unix socket: exit code %s", got)
	}
	if r := docker(certs.stranger, "version"); r.Code == 0 {
		t.Errorf("a client certificate from another CA was accepted:\n%s", r)
	}

	roots := x509.NewCertPool()
	pemData, _ := os.ReadFile(certs.ca)
	roots.AppendCertsFromPEM(pemData)
	good, err := tls.LoadX509KeyPair(filepath.Join(certs.client, "cert.pem"), filepath.Join(certs.client, "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		client func(net.Conn) net.Conn
		want   string // the body, or the error
	}{
		{"client certificate", func(c net.Conn) net.Conn {
			return tls.Client(c, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", Certificates: []tls.Certificate{good}})
		}, "OK"},
		{"no client certificate", func(c net.Conn) net.Conn { return tls.Client(c, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}) },
			"remote error: tls: certificate required"},
		{"plain HTTP", func(c net.Conn) net.Conn { return c }, "Client sent an HTTP request to an HTTPS server.\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := dialInNetNS(t, e.d.netns, addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			body, err := ping(tc.client(c))
			if err != nil {
				body = err.Error()
			}
			if body != tc.want {
				t.Errorf("GET /_ping: %q, want %q", body, tc.want)
			}
		})
	}
}

// TestPlainTCPLoopback: plain TCP on loopback is served, with dockerd's
// warnings in the log.
func TestPlainTCPLoopback(t *testing.T) {
	e := newEnv(t)
	e.needGantryd(t)
	const addr = "127.0.0.1:2375"
	e.stopDaemon(t)
	e.d.args = []string{"-H", "tcp://" + addr}
	e.startDaemon(t)
	r := e.inDaemonNet(t, "env", "DOCKER_HOST=tcp://"+addr, "docker", "run", "--rm", "busybox", "echo", "plain")
	if r.Code != 0 || r.Stdout != "plain\n" {
		t.Errorf("docker run over plain TCP:\n%s", r)
	}
	log, _ := os.ReadFile(e.d.log)
	if !strings.Contains(string(log), `msg="Binding to IP address without --tlsverify is insecure and gives root access on this machine to everyone who has access to your network." host=tcp://127.0.0.1:2375`) {
		t.Errorf("no warning about plain TCP in the log:\n%s", tail(e.d.log, 20))
	}
}

// TestSocketActivation: gantryd -H fd:// serves the socket systemd passes
// (LISTEN_FDS, LISTEN_PID), here through systemd-socket-activate.
func TestSocketActivation(t *testing.T) {
	bin := gantrydBin(t)
	activate, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		t.Skip("systemd-socket-activate not installed (Debian package systemd)")
	}
	netns := newNetNS(t)
	dir, err := os.MkdirTemp("", "gt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "a.sock")
	logPath := filepath.Join(dir, "log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	// systemd-socket-activate execs nsenter, which execs gantryd: one PID,
	// the one in LISTEN_PID.
	notifyPath := filepath.Join(dir, "notify") // systemd's notification socket: gantryd says READY=1 once it serves
	cmd := exec.Command(activate, "-l", sock, "-E", "NOTIFY_SOCKET="+notifyPath, "nsenter", "--net="+netns, "--", bin, "-H", "fd://",
		"--data-root", filepath.Join(dir, "root"), "--exec-root", filepath.Join(dir, "exec"), "--config-file", writeFile(t, "daemon.json", ""))
	cmd.Stdout, cmd.Stderr = logf, logf
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer notify.Close()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	hc := unixHTTPClient(sock)
	poll(t, 30*time.Second, "gantryd answers on the activated socket", func() (bool, string) {
		select {
		case <-done:
			t.Fatalf("gantryd exited; log:\n%s", tail(logPath, 20))
		default:
		}
		resp, err := hc.Get("http://d/_ping")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	if log, _ := os.ReadFile(logPath); !strings.Contains(string(log), `msg="API listening" host=unix://`+sock) {
		t.Errorf("log:\n%s", log)
	}
	notify.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 256)
	if n, err := notify.Read(buf); err != nil || string(buf[:n]) != "READY=1" {
		t.Errorf("sd_notify: %q, %v; want READY=1", buf[:n], err)
	}

	// Without sockets from systemd, fd:// is dockerd's error.
	r := runGantryd(t, netns, 20*time.Second, "-H", "fd://", "--data-root", filepath.Join(dir, "root2"), "--config-file", writeFile(t, "daemon.json", ""))
	if want := "gantryd: no sockets found via socket activation: make sure the service was started by systemd\n"; r.Code != 1 || r.Stderr != want {
		t.Errorf("fd:// without systemd:\n%s\nwant %q", r, want)
	}
}

// TestSocketModeAndGroup: the socket is 0660 and belongs to --group, even
// under umask 000.
func TestSocketModeAndGroup(t *testing.T) {
	e := newEnv(t)
	e.needGantryd(t)
	e.stopDaemon(t)
	old := syscall.Umask(0) // the daemon inherits it
	e.d.args = []string{"--group", "0"}
	e.startDaemon(t)
	syscall.Umask(old)
	st, err := os.Stat(e.d.sock)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o660 {
		t.Errorf("socket mode %o, want 660", st.Mode().Perm())
	}
	if gid := st.Sys().(*syscall.Stat_t).Gid; gid != 0 {
		t.Errorf("socket group %d, want 0", gid)
	}
}

// TestConfigReload: daemon.json is read at start, and at SIGHUP the
// registry mirrors it lists take effect (a Docker Hub image then comes from
// the added mirror); a file that no longer loads is logged and changes
// nothing; a changed key that needs a restart is named.
func TestConfigReload(t *testing.T) {
	e := newEnv(t)
	e.needGantryd(t)
	reg := startRegistry(t, e, false)
	repo := name("hubonly")
	e.mustDocker(t, "tag", "busybox", reg.Host+"/library/"+repo+":latest")
	e.mustDocker(t, "push", reg.Host+"/library/"+repo+":latest")
	e.mustDocker(t, "rmi", reg.Host+"/library/"+repo+":latest")

	cfgPath := writeFile(t, "daemon.json", `{"registry-mirrors": [], "debug": false}`)
	e.stopDaemon(t)
	e.d.args = []string{"--config-file", cfgPath}
	e.startDaemon(t)
	if r := e.docker(t, "pull", repo); r.Code == 0 {
		t.Fatalf("pull %s without a mirror worked:\n%s", repo, r)
	}

	hangup := func(want string) {
		t.Helper()
		before, _ := os.ReadFile(e.d.log)
		e.d.cmd.Process.Signal(syscall.SIGHUP)
		poll(t, 10*time.Second, "the reload is logged", func() (bool, string) {
			now, _ := os.ReadFile(e.d.log)
			return bytes.Contains(now[len(before):], []byte(want)), string(now[len(before):])
		})
	}
	os.WriteFile(cfgPath, []byte(`{"registry-mirrors": ["http://`+reg.Host+`"], "debug": true}`), 0o600)
	since := fmt.Sprint(time.Now().Unix() - 1)
	hangup(`msg="configuration reloaded" changed="[debug registry-mirrors]"`)
	// The reload is a daemon event, as dockerd's.
	if got := e.mustDocker(t, "events", "--since", since, "--until", fmt.Sprint(time.Now().Unix()+1), "--filter", "daemon=gantry", "--format", "{{.Type}} {{.Action}} {{index .Actor.Attributes \"registry-mirrors\"}}"); got != "daemon reload [http://"+reg.Host+"]" {
		t.Errorf("daemon events after the reload: %q", got)
	}
	if r := e.docker(t, "pull", repo); r.Code != 0 {
		t.Errorf("pull %s after the mirror was added:\n%s", repo, r)
	}

	os.WriteFile(cfgPath, []byte(`{"registry-mirrors": [], "no-such-key": 1}`), 0o600)
	hangup(`msg="configuration not reloaded" error="unable to configure the Docker daemon with file ` + cfgPath + `: the following directives don't match any configuration option: no-such-key"`)
	e.mustDocker(t, "rmi", repo)
	if r := e.docker(t, "pull", repo); r.Code != 0 {
		t.Errorf("pull %s after a refused reload:\n%s", repo, r)
	}

	os.WriteFile(cfgPath, []byte(`{"registry-mirrors": ["http://`+reg.Host+`"], "bip": "10.123.0.1/16"}`), 0o600)
	hangup(`msg="configuration changed but not reloaded: restart gantryd to apply it" keys=[bip]`)
	if !e.d.running() {
		t.Fatal("gantryd exited after the reloads")
	}
}

// TestValidate: gantryd --validate checks the file and the flags, prints
// dockerd's "configuration OK" and touches nothing.
func TestValidate(t *testing.T) {
	bin := gantrydBin(t)
	root := filepath.Join(t.TempDir(), "root")
	validate := func(file string, args ...string) result {
		var stdout, stderr bytes.Buffer
		cmd := exec.CommandContext(context.Background(), bin, append([]string{"--validate", "--data-root", root, "--config-file", writeFile(t, "daemon.json", file)}, args...)...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatal(err)
		}
		return result{Stdout: stdout.String(), Stderr: stderr.String(), Code: cmd.ProcessState.ExitCode()}
	}
	if r := validate(`{"hosts": ["unix:///tmp/x.sock", "tcp://127.0.0.1:2375"], "log-level": "warn", "registry-mirrors": ["https://m.example"]}`); r.Code != 0 || r.Stderr != "configuration OK\n" {
		t.Errorf("a valid configuration:\n%s", r)
	}
	if r := validate(`{"log-level": "loud"}`); r.Code != 1 || r.Stderr != "gantryd: invalid logging level: loud\n" {
		t.Errorf("a bad log level:\n%s", r)
	}
	if r := validate(`{"data-root": "/x"}`, "--debug"); r.Code != 1 || !strings.Contains(r.Stderr, "the following directives are specified both as a flag and in the configuration file: data-root") {
		t.Errorf("a key given both ways:\n%s", r)
	}
	if _, err := os.Stat(root); err == nil {
		t.Error("--validate created the data root")
	}
}

// TestDaemonDNSDefaults: gantryd's --dns, --dns-search and --dns-opt are
// the resolv.conf of containers and build steps that give none of their
// own, each setting on its own, as dockerd's; on a user-defined network
// the file names the embedded server with the daemon's search and options.
func TestDaemonDNSDefaults(t *testing.T) {
	e := newEnv(t)
	e.needGantryd(t)
	e.stopDaemon(t)
	e.d.args = []string{"--dns", "10.9.8.7", "--dns-search", "example.org", "--dns-opt", "ndots:3"}
	e.startDaemon(t)
	defer func() {
		e.stopDaemon(t)
		e.d.args = nil
		e.startDaemon(t)
	}()
	resolv := func(args ...string) string {
		return e.mustDocker(t, append(append([]string{"run", "--rm"}, args...), "busybox", "cat", "/etc/resolv.conf")...)
	}
	check := func(what, conf string, want, not []string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(conf+"\n", w+"\n") {
				t.Errorf("%s: resolv.conf lacks %q:\n%s", what, w, conf)
			}
		}
		for _, n := range not {
			if strings.Contains(conf+"\n", n+"\n") {
				t.Errorf("%s: resolv.conf has %q:\n%s", what, n, conf)
			}
		}
	}
	check("default", resolv(), []string{"nameserver 10.9.8.7", "search example.org", "options ndots:3"}, nil)
	check("--dns", resolv("--dns", "10.1.1.1"), []string{"nameserver 10.1.1.1", "search example.org", "options ndots:3"}, []string{"nameserver 10.9.8.7"})
	check("--dns-search --dns-opt", resolv("--dns-search", "other.example", "--dns-opt", "timeout:2"),
		[]string{"nameserver 10.9.8.7", "search other.example", "options timeout:2"}, []string{"search example.org", "options ndots:3"})
	net := name("dnsdef")
	e.mustDocker(t, "network", "create", net)
	defer e.docker(t, "network", "rm", net)
	check("user network", resolv("--network", net), []string{"nameserver 127.0.0.11", "search example.org", "options ndots:3"}, []string{"nameserver 10.9.8.7"})

	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN cat /etc/resolv.conf\n"})
	out := e.mustDocker(t, "build", "--no-cache", dir)
	check("build step", out, []string{"nameserver 10.9.8.7", "search example.org", "options ndots:3"}, nil)
	e.withBuildx(t)
	r := e.docker(t, "buildx", "build", "--progress", "plain", "--no-cache", dir)
	if r.Code != 0 {
		t.Fatalf("docker buildx build:\n%s", r)
	}
	var step []string
	for _, l := range lines(r.Stderr) { // "#5 0.052 nameserver 10.9.8.7"
		if f := strings.Fields(l); len(f) > 2 && strings.HasPrefix(f[0], "#") {
			step = append(step, strings.Join(f[2:], " "))
		}
	}
	check("BuildKit step", strings.Join(step, "\n"), []string{"nameserver 10.9.8.7", "search example.org", "options ndots:3"}, nil)
}

// TestDaemonDefaultUlimits: gantryd's --default-ulimit values are the
// limits of containers, their execs and build steps but where a container
// sets its own of the same name (--ulimit), as dockerd merges them.
func TestDaemonDefaultUlimits(t *testing.T) {
	e := newEnv(t)
	e.needGantryd(t)
	e.stopDaemon(t)
	e.d.args = []string{"--default-ulimit", "nofile=4321:8765", "--default-ulimit", "memlock=65536:131072"}
	e.startDaemon(t)
	defer func() {
		e.stopDaemon(t)
		e.d.args = nil
		e.startDaemon(t)
	}()
	limits := func(out string) string {
		var got []string
		for _, l := range lines(out) {
			if strings.HasPrefix(l, "Max open files") || strings.HasPrefix(l, "Max locked memory") {
				got = append(got, strings.Join(strings.Fields(l)[3:5], ":"))
			}
		}
		return strings.Join(got, " ")
	}
	const cat = "grep -E '^Max (open files|locked memory)' /proc/self/limits"
	if got := limits(e.mustDocker(t, "run", "--rm", "busybox", "sh", "-c", cat)); got != "4321:8765 65536:131072" {
		t.Errorf("a container's limits: %q, want the daemon's", got)
	}
	if got := limits(e.mustDocker(t, "run", "--rm", "--ulimit", "nofile=100:200", "busybox", "sh", "-c", cat)); got != "100:200 65536:131072" {
		t.Errorf("a container's limits with --ulimit nofile=100:200: %q", got)
	}
	ctr := name("ulimits")
	e.mustDocker(t, "run", "-d", "--name", ctr, "busybox", "sleep", "300")
	defer e.docker(t, "rm", "-f", ctr)
	if got := limits(e.mustDocker(t, "exec", ctr, "sh", "-c", cat)); got != "4321:8765 65536:131072" {
		t.Errorf("an exec's limits: %q, want the daemon's", got)
	}
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN " + cat + "\n"})
	if got := limits(e.mustDocker(t, "build", "--no-cache", dir)); got != "4321:8765 65536:131072" {
		t.Errorf("a build step's limits: %q, want the daemon's", got)
	}
}

// TestDaemonAddressPools: with --default-address-pool, a network created
// without a subnet takes the next free subnet of the pool's size, as
// dockerd's; a subnet asked for is still given.
func TestDaemonAddressPools(t *testing.T) {
	e := newEnv(t)
	e.needGantryd(t)
	e.stopDaemon(t)
	e.d.args = []string{"--default-address-pool", "base=10.123.0.0/16,size=24"}
	e.startDaemon(t)
	defer func() {
		e.stopDaemon(t)
		e.d.args = nil
		e.startDaemon(t)
	}()
	n1, n2, n3 := name("pool1"), name("pool2"), name("pool3")
	defer e.docker(t, "network", "rm", n1, n2, n3)
	e.mustDocker(t, "network", "create", n1)
	e.mustDocker(t, "network", "create", "--subnet", "10.123.1.0/24", n2)
	e.mustDocker(t, "network", "create", n3)
	for n, want := range map[string]string{n1: "10.123.0.0/24", n2: "10.123.1.0/24", n3: "10.123.2.0/24"} {
		if got := e.mustDocker(t, "network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}}", n); got != want {
			t.Errorf("network %s: subnet %s, want %s", n, got, want)
		}
	}
	if got := e.mustDocker(t, "run", "--rm", "--network", n3, "busybox", "sh", "-c", "ip -4 -o addr show eth0 | awk '{print $4}'"); got != "10.123.2.2/24" {
		t.Errorf("a container on %s: %q, want 10.123.2.2/24", n3, got)
	}
}

package integration

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sshAgent starts ssh-agent on a socket of its own holding the key at
// key (made by ssh-keygen), and returns the socket.
func sshAgent(t *testing.T, key string) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "agent.sock")
	cmd := exec.Command("ssh-agent", "-D", "-a", sock)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	poll(t, 10*time.Second, "ssh-agent's socket", func() (bool, string) {
		_, err := os.Stat(sock)
		return err == nil, sock
	})
	add := exec.Command("ssh-add", key)
	add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("ssh-add: %v\n%s", err, out)
	}
	return sock
}

// sshKey makes an ed25519 key without passphrase and returns its path,
// its public key's base64 blob and its SHA256 fingerprint.
func sshKey(t *testing.T) (key, blob, fingerprint string) {
	t.Helper()
	key = filepath.Join(t.TempDir(), "id")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "gantry-test", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ssh-keygen", "-lf", key+".pub").Output()
	if err != nil {
		t.Fatal(err)
	}
	return key, strings.Fields(string(pub))[1], strings.Fields(string(out))[1]
}

// TestBuildSSH checks gantry build --ssh: a RUN --mount=type=ssh step
// reaches the client's agent (an ssh-agent's socket, or key files) through
// a socket at BuildKit's default target with SSH_AUTH_SOCK set, or at the
// mount's target with its mode and owner; an agent not forwarded is left
// out; many connections at once are all served; neither the keys nor the
// socket enter the image or the data root, 400 connections at once end (those over the limit refused), and another agent is no
// change to the cache key.
func TestBuildSSH(t *testing.T) {
	e := newEnv(t)
	needGantryd(t, e)
	e.needGantry(t)
	for _, p := range []string{"ssh-agent", "ssh-add", "ssh-keygen"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s is missing (apt-get install openssh-client)", p)
		}
	}
	key1, blob1, fp1 := sshKey(t)
	key2, blob2, fp2 := sshKey(t)
	sock := sshAgent(t, key1)
	ctx := writeContext(t, map[string]string{"Dockerfile": `FROM busybox
COPY agentls /bin/agentls
RUN --mount=type=ssh agentls && echo "sock=$SSH_AUTH_SOCK"
RUN --mount=type=ssh,id=other,target=/tmp/a.sock,mode=0660,uid=1000 agentls /tmp/a.sock && stat -c 'mode %a %u' /tmp/a.sock
RUN --mount=type=ssh,id=absent echo "absent=[$SSH_AUTH_SOCK]" && test ! -e /run/buildkit
RUN --mount=type=ssh agentls -n 50
RUN --mount=type=ssh agentls -n 400
`})
	buildAgentLS(t, ctx)
	tag := name("ssh") + ":1"
	r := e.build(t, "gantry", []string{"SSH_AUTH_SOCK=" + sock}, "", "--ssh", "default", "--ssh", "other="+key2, "-t", tag, ctx)
	if r.Code != 0 {
		t.Fatalf("build --ssh:\n%s", r)
	}
	for _, want := range []string{fp1 + "\n", "sock=/run/buildkit/ssh_agent.0\n", fp2 + "\n", "mode 660 1000\n", "absent=[]\n", "ok 50\n", "ok "} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("the build's output lacks %q:\n%s", want, r.Stdout)
		}
	}
	if got := e.runIn(t, tag, "test -e /run/buildkit -o -e /tmp/a.sock || echo clean"); got != "clean" {
		t.Errorf("a socket left in the image: %q", got)
	}
	if env := e.mustDocker(t, "image", "inspect", "-f", "{{.Config.Env}}", tag); strings.Contains(env, "SSH_AUTH_SOCK") {
		t.Errorf("SSH_AUTH_SOCK in the image's Env: %s", env)
	}
	if !e.External {
		for _, s := range []string{blob1, blob2, fp1, fp2} {
			if out, _ := exec.Command("grep", "-rl", s, e.Root).CombinedOutput(); len(out) > 0 {
				t.Errorf("a key is on the daemon's disk: %s", out)
			}
		}
	}
	// The agents swapped: every step cached.
	r = e.build(t, "gantry", nil, "", "--ssh", "default="+key2, "--ssh", "other="+sock, "-t", tag, ctx)
	if got := cachedSteps(r.Stdout); r.Code != 0 || len(got) != 7 || !got[2] || !got[3] || !got[4] || !got[5] || !got[6] {
		t.Errorf("other agents missed the cache (%v):\n%s", got, r)
	}
	// A Dockerfile from stdin goes beside the synced context: the agents too.
	r = e.build(t, "gantry", nil, "FROM "+tag+"\nRUN --mount=type=ssh agentls\n", "--ssh", "default="+sock, "-f", "-", ctx)
	if r.Code != 0 || !strings.Contains(r.Stdout, fp1+"\n") {
		t.Errorf("--ssh with a Dockerfile from stdin:\n%s", r)
	}
	// --ssh needs the sync: a context from stdin is a tar.
	r = e.build(t, "gantry", nil, "FROM busybox\n", "--ssh", "default="+sock, "-")
	if r.Code == 0 || !strings.Contains(r.Stderr, "--ssh needs a context directory") {
		t.Errorf("--ssh with a context from stdin:\n%s", r)
	}
}

// TestBuildSSHClientLeaves: the client killed while a step holds a
// connection to its agent: the step is killed, and the next build with
// the agent works.
func TestBuildSSHClientLeaves(t *testing.T) {
	e := newEnv(t)
	needGantryd(t, e)
	e.needGantry(t)
	if _, err := exec.LookPath("ssh-agent"); err != nil {
		t.Skip("ssh-agent is missing (apt-get install openssh-client)")
	}
	key, _, fp := sshKey(t)
	sock := sshAgent(t, key)
	marker := "marker-" + randHex(6)
	ctx := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nCOPY agentls /bin/agentls\n" +
		"RUN --mount=type=ssh agentls && echo started && sleep 120 # " + marker + "\n"})
	buildAgentLS(t, ctx)
	cctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmdline := append(e.buildCmd(t, "gantry"), "--ssh", "default="+sock, ctx)
	cmd := exec.CommandContext(cctx, cmdline[0], cmdline[1:]...)
	cmd.Env = e.clientEnv()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	var seen []string
	for sc.Scan() {
		seen = append(seen, sc.Text())
		if sc.Text() == "started" {
			break
		}
	}
	if len(seen) == 0 || seen[len(seen)-1] != "started" || !strings.Contains(strings.Join(seen, "\n"), fp) {
		t.Fatalf("the step did not list the key and start:\n%s", strings.Join(seen, "\n"))
	}
	cmd.Process.Kill()
	cmd.Wait()
	if !e.External {
		poll(t, time.Minute, "the step killed", func() (bool, string) {
			out, _ := exec.Command("pgrep", "-f", marker).Output()
			return len(out) == 0, string(out)
		})
	}
	os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte("FROM busybox\nCOPY agentls /bin/agentls\nRUN --mount=type=ssh agentls\n"), 0o644)
	if r := e.build(t, "gantry", nil, "", "--ssh", "default="+sock, ctx); r.Code != 0 || !strings.Contains(r.Stdout, fp) {
		t.Errorf("the next build:\n%s", r)
	}
}

// buildAgentLS builds integration/testdata/agentls (static) into dir.
func buildAgentLS(t *testing.T, dir string) {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("agentls is built with the go command: %v", err)
	}
	cmd := exec.Command(goBin, "build", "-o", filepath.Join(dir, "agentls"), "./testdata/agentls")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build agentls: %v\n%s", err, out)
	}
}

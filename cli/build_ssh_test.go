package cli

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// TestParseSSH: --ssh values as BuildKit's clients read them, and their
// errors.
func TestParseSSH(t *testing.T) {
	dir := t.TempDir()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, "id")
	os.WriteFile(key, pem.EncodeToMemory(block), 0o600)
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("not a key"), 0o600)
	sock := filepath.Join(dir, "s.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	t.Setenv("SSH_AUTH_SOCK", "")
	for _, tc := range []struct {
		specs []string
		ids   string
		err   string
	}{
		{specs: []string{"default=" + key, "other=" + sock}, ids: "default,other"},
		{specs: []string{"=" + key}, ids: "default"},
		{specs: []string{"default"}, err: "invalid empty ssh agent socket: make sure SSH_AUTH_SOCK is set"},
		{specs: []string{"a=" + key, "a=" + key}, err: `duplicate agent ID "a"`},
		{specs: []string{"a=" + bad}, err: `failed to convert agent config for ID: "a": failed to parse ` + bad},
		{specs: []string{"a=" + key + "," + sock}, err: "invalid combination of keys and sockets"},
		{specs: []string{"a=" + filepath.Join(dir, "nosuch")}, err: "no such file or directory"},
	} {
		agents, err := parseSSH(tc.specs)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%v: got error %v, want %q", tc.specs, err, tc.err)
		case tc.err == "" && err != nil:
			t.Errorf("%v: %v", tc.specs, err)
		case tc.err == "" && agents.ids() != tc.ids:
			t.Errorf("%v: ids %q, want %q", tc.specs, agents.ids(), tc.ids)
		}
	}
	// A key file's agent lists the key and refuses changes.
	agents, err := parseSSH([]string{"k=" + key})
	if err != nil {
		t.Fatal(err)
	}
	a, done, err := agents["k"]()
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	keys, err := a.List()
	if err != nil || len(keys) != 1 {
		t.Fatalf("list: %v %v", keys, err)
	}
	if err := a.RemoveAll(); err == nil {
		t.Error("the build's agent removed its keys")
	}
}

// TestAgentThatHangs: an agent socket that takes connections and never
// answers fails the request within agentReplyTimeout, and the step's
// connection is closed, instead of hanging.
func TestAgentThatHangs(t *testing.T) {
	defer func(d time.Duration) { agentReplyTimeout = d }(agentReplyTimeout)
	agentReplyTimeout = 200 * time.Millisecond
	sock := filepath.Join(t.TempDir(), "hang.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	held := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held <- c // read nothing, answer nothing
		}
	}()
	agents, err := parseSSH([]string{"default=" + sock})
	if err != nil {
		t.Fatal(err)
	}
	step, client := net.Pipe()
	served := make(chan struct{})
	go func() {
		agents.serve(client)
		close(served)
	}()
	if _, err := step.Write([]byte("default\n")); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := agent.NewClient(step).List()
		errc <- err
	}()
	select {
	case err := <-errc:
		if err == nil {
			t.Error("a list from an agent that never answers succeeded")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a list from an agent that never answers hung")
	}
	step.Close()
	select {
	case <-served:
	case <-time.After(30 * time.Second):
		t.Fatal("the forward of a hung agent did not end")
	}
}

package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/yamux"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// sshAgents are the agents of gantry build --ssh by id: each serves the
// agent protocol on a connection (a socket's agent read-only, as
// BuildKit's client serves it, or keys held in memory).
type sshAgents map[string]func() (agent.Agent, func(), error)

// agentReplyTimeout bounds the wait for an agent's answer to one request:
// an agent that hangs fails the step's request instead of the build.
var agentReplyTimeout = time.Minute

// parseSSH reads the --ssh values as BuildKit's clients do:
// default|ID[=SOCKET|KEY[,KEY...]]; an ID without paths is SSH_AUTH_SOCK's
// agent. Keys are read now; a socket is dialled per connection.
func parseSSH(specs []string) (sshAgents, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	agents := sshAgents{}
	for _, spec := range specs {
		id, val, _ := strings.Cut(spec, "=")
		if id == "" {
			id = "default"
		}
		if _, ok := agents[id]; ok {
			return nil, fmt.Errorf("duplicate agent ID %q", id)
		}
		var paths []string
		if val != "" {
			paths = strings.Split(val, ",")
		}
		if len(paths) == 0 {
			p := os.Getenv("SSH_AUTH_SOCK")
			if p == "" {
				return nil, fmt.Errorf("invalid empty ssh agent socket: make sure SSH_AUTH_SOCK is set")
			}
			paths = []string{p}
		}
		a, err := agentOf(paths)
		if err != nil {
			return nil, fmt.Errorf("failed to convert agent config for ID: %q: %w", id, err)
		}
		agents[id] = a
	}
	return agents, nil
}

// agentOf is the agent of one --ssh value's paths: one socket, or keys.
func agentOf(paths []string) (func() (agent.Agent, func(), error), error) {
	keyring := agent.NewKeyring()
	var socket string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if fi.Mode()&os.ModeSocket != 0 {
			if socket != "" {
				return nil, errors.New("only single socket allowed")
			}
			socket = p
			continue
		}
		dt, err := readLimited(p, 100<<10)
		if err != nil {
			return nil, err
		}
		k, err := ssh.ParseRawPrivateKey(dt)
		if err != nil {
			return nil, fmt.Errorf("failed to parse %s: %w", p, err)
		}
		if err := keyring.Add(agent.AddedKey{PrivateKey: k}); err != nil {
			return nil, fmt.Errorf("failed to add %s to agent: %w", p, err)
		}
	}
	if socket != "" {
		if len(paths) > 1 {
			return nil, errors.New("invalid combination of keys and sockets")
		}
		return func() (agent.Agent, func(), error) {
			c, err := net.DialTimeout("unix", socket, 2*time.Second)
			if err != nil {
				return nil, nil, fmt.Errorf("failed to connect to %s: %w", socket, err)
			}
			return readOnlyAgent{agent.NewClient(replyDeadline{c.(*net.UnixConn)})}, func() { c.Close() }, nil
		}, nil
	}
	return func() (agent.Agent, func(), error) {
		return readOnlyAgent{keyring.(agent.ExtendedAgent)}, func() {}, nil
	}, nil
}

func readLimited(p string, n int64) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, n))
}

// replyDeadline is an agent's connection whose reads fail
// agentReplyTimeout after the last request written: the agent client
// writes a request, then reads its answer.
type replyDeadline struct{ *net.UnixConn }

func (c replyDeadline) Write(p []byte) (int, error) {
	_ = c.SetReadDeadline(time.Now().Add(agentReplyTimeout))
	return c.UnixConn.Write(p)
}

// Read closes the connection when the agent did not answer in time: a
// late answer must not pass for the next request's.
func (c replyDeadline) Read(p []byte) (int, error) {
	n, err := c.UnixConn.Read(p)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.Close()
		err = fmt.Errorf("the ssh agent did not answer in %v", agentReplyTimeout)
	}
	return n, err
}

// readOnlyAgent is an agent the build may list and sign with, never
// change (BuildKit's words for what it refuses).
type readOnlyAgent struct{ agent.ExtendedAgent }

func (readOnlyAgent) Add(agent.AddedKey) error {
	return errors.New("adding new keys not allowed by buildkit")
}
func (readOnlyAgent) Remove(ssh.PublicKey) error {
	return errors.New("removing keys not allowed by buildkit")
}
func (readOnlyAgent) RemoveAll() error { return errors.New("removing keys not allowed by buildkit") }
func (readOnlyAgent) Lock([]byte) error {
	return errors.New("locking agent not allowed by buildkit")
}
func (readOnlyAgent) Extension(string, []byte) ([]byte, error) {
	return nil, errors.New("extensions not allowed by buildkit")
}

// ids are the agents' ids, sorted: the SSHHeader's value.
func (a sshAgents) ids() string {
	var ids []string
	for id := range a {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return strings.Join(ids, ",")
}

// forward runs the yamux session the connection becomes after the sync
// when agents are forwarded (api.SSHHeader): the first stream gantryd
// opens is the build's output, returned; each later one a connection to
// the agent its first line names, served until either side ends it. The
// session ends when the returned closer is called or the connection ends.
func (a sshAgents) forward(conn io.ReadWriteCloser) (io.ReadCloser, error) {
	cfg := yamux.DefaultConfig()
	cfg.LogOutput = io.Discard
	cfg.EnableKeepAlive = false // nothing may be sent before gantryd's first frame
	sess, err := yamux.Client(conn, cfg)
	if err != nil {
		return nil, err
	}
	out, err := sess.AcceptStream()
	if err != nil {
		sess.Close()
		return nil, err
	}
	go func() {
		for {
			st, err := sess.AcceptStream()
			if err != nil {
				return
			}
			go a.serve(st)
		}
	}()
	return readCloser{out, sess.Close}, nil
}

// serve answers one agent connection: its first line is the agent's id.
func (a sshAgents) serve(st net.Conn) {
	defer st.Close()
	_ = st.SetReadDeadline(time.Now().Add(time.Minute))
	br := bufio.NewReaderSize(st, 256)
	line, err := br.ReadSlice('\n')
	if err != nil {
		return
	}
	_ = st.SetReadDeadline(time.Time{})
	open, ok := a[strings.TrimSuffix(string(line), "\n")]
	if !ok {
		return
	}
	ag, closeAgent, err := open()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ssh:", err)
		return
	}
	defer closeAgent()
	_ = agent.ServeAgent(ag, readWriter{br, st})
}

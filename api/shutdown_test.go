package api

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestShutdownLetsRequestsFinish: a wait that completes within the grace
// period gets its body although shutdown began, and new connections are
// refused.
func TestShutdownLetsRequestsFinish(t *testing.T) {
	ts := startServer(t, Options{ShutdownGrace: 5 * time.Second})
	id := ts.mustCreate(t, "", `{"Image":"busybox","Cmd":["tick","5"]}`)
	c := ts.dial(t)
	fmt.Fprintf(c, "POST /containers/%s/wait?condition=next-exit HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", id)
	br := bufio.NewReader(c)
	readResponseHead(t, br)
	ts.start(t, id)

	stopped := make(chan error, 1)
	go func() { stopped <- ts.stop() }()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, _ := br.ReadString('\n') // chunk size
	body, err := br.ReadString('\n')
	if err != nil || body != `{"StatusCode":0}`+"\n" {
		t.Errorf("wait body %q %q, %v", line, body, err)
	}
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
	if c2, err := net.Dial("unix", ts.sock); err == nil {
		c2.Close()
		t.Error("dial after shutdown succeeded")
	}
}

// TestShutdownCancelsAfterGrace: requests still running after the grace
// period are cancelled and hijacked connections closed.
func TestShutdownCancelsAfterGrace(t *testing.T) {
	ts := startServer(t, Options{ShutdownGrace: 200 * time.Millisecond})
	id := ts.mustCreate(t, "", `{"Image":"busybox","Cmd":["sleep"]}`)
	att := ts.dial(t)
	io.WriteString(att, attachRequest(id, "stdout=1&stderr=1&stream=1", true))
	abr := bufio.NewReader(att)
	readResponseHead(t, abr)
	ts.start(t, id)
	wait := ts.dial(t)
	fmt.Fprintf(wait, "POST /containers/%s/wait HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", id)
	wbr := bufio.NewReader(wait)
	readResponseHead(t, wbr)

	start := time.Now()
	if err := ts.stop(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Serve took %v to return", d)
	}
	for name, br := range map[string]*bufio.Reader{"attach": abr, "wait": wbr} {
		_ = att.SetReadDeadline(time.Now().Add(3 * time.Second))
		_ = wait.SetReadDeadline(time.Now().Add(3 * time.Second))
		rest, err := io.ReadAll(br)
		if err != nil && strings.Contains(err.Error(), "timeout") {
			t.Errorf("%s connection still open after shutdown (read %q)", name, rest)
		}
	}
}

package api

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// attachRequest is the docker CLI's attach request (engine-api.md §4.4).
func attachRequest(id, query string, upgrade bool) string {
	req := "POST /v1.47/containers/" + id + "/attach?" + query + " HTTP/1.1\r\nHost: api.moby.localhost\r\nUser-Agent: Docker-Client/28.2.2 (linux)\r\nContent-Length: 0\r\n"
	if upgrade {
		req += "Connection: Upgrade\r\nContent-Type: text/plain\r\nUpgrade: tcp\r\n"
	}
	return req + "\r\n"
}

// frames splits a multiplexed stream into "1:payload" / "2:payload" items.
func frames(t *testing.T, b []byte) []string {
	t.Helper()
	var out []string
	for len(b) > 0 {
		if len(b) < 8 {
			t.Fatalf("short frame header %q", b)
		}
		n := int(b[4])<<24 | int(b[5])<<16 | int(b[6])<<8 | int(b[7])
		out = append(out, fmt.Sprintf("%d:%s", b[0], b[8:8+n]))
		b = b[8+n:]
	}
	return out
}

func (ts *testServer) start(t *testing.T, id string) {
	t.Helper()
	resp, body := ts.do(t, "POST", "/v1.47/containers/"+id+"/start", "")
	if resp.StatusCode != 204 {
		t.Fatalf("start: %d %s", resp.StatusCode, body)
	}
}

// TestAttach drives the hijacked stream as the docker CLI does: 101 at once,
// before start; half-close right after the 101 (no stdin) or after the stdin
// bytes (-i); output after start; the daemon closes when the container exits.
func TestAttach(t *testing.T) {
	tests := []struct {
		name       string
		create     string
		query      string
		upgrade    bool
		stdin      string // sent in the same write as the request, so the HTTP server buffers it
		halfClose  bool   // the client shuts down its write side after stdin
		wantHead   string
		wantFrames []string // multiplexed
		wantRaw    string   // TTY
	}{
		{
			name:       "no stdin, half-closed at once",
			create:     `{"Image":"busybox","Cmd":["exit","3"]}`,
			query:      "stderr=1&stdout=1&stream=1",
			upgrade:    true,
			halfClose:  true,
			wantHead:   upgradeResponse,
			wantFrames: []string{"1:out\n", "2:err\n"},
		},
		{
			name:       "stdin before start, then EOF",
			create:     `{"Image":"busybox","Cmd":["cat"],"OpenStdin":true,"StdinOnce":true}`,
			query:      "stderr=1&stdin=1&stdout=1&stream=1",
			upgrade:    true,
			stdin:      "line1\nline2\n",
			halfClose:  true,
			wantHead:   upgradeResponse,
			wantFrames: []string{"1:line1\nline2\n", "2:done\n"},
		},
		{
			name:     "tty is raw, closed by the daemon while the client keeps writing",
			create:   `{"Image":"busybox","Cmd":["echo","hi"],"Tty":true,"OpenStdin":true}`,
			query:    "stderr=1&stdin=1&stdout=1&stream=1",
			upgrade:  true,
			wantHead: upgradeResponse,
			wantRaw:  "hi\n",
		},
		{
			name:       "no upgrade asked: 200 and the raw stream",
			create:     `{"Image":"busybox","Cmd":["echo","plain"]}`,
			query:      "stdout=1&stream=1",
			halfClose:  true,
			wantHead:   rawResponse,
			wantFrames: []string{"1:plain\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, Options{})
			id := ts.mustCreate(t, "", tt.create)
			c := ts.dial(t).(*net.UnixConn)
			if _, err := io.WriteString(c, attachRequest(id, tt.query, tt.upgrade)+tt.stdin); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(c)
			if diff := cmp.Diff(tt.wantHead, readResponseHead(t, br)); diff != "" {
				t.Fatalf("handshake (-want +got):\n%s", diff)
			}
			if tt.halfClose {
				if err := c.CloseWrite(); err != nil {
					t.Fatal(err)
				}
			}
			ts.start(t, id)
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			out, err := io.ReadAll(br) // ends only when the daemon closes
			if err != nil {
				t.Fatalf("read stream: %v (got %q)", err, out)
			}
			if tt.wantRaw != "" {
				if diff := cmp.Diff(tt.wantRaw, string(out)); diff != "" {
					t.Errorf("raw stream (-want +got):\n%s", diff)
				}
				return
			}
			if diff := cmp.Diff(tt.wantFrames, frames(t, out)); diff != "" {
				t.Errorf("frames (-want +got):\n%s", diff)
			}
		})
	}
}

// TestWaitHeadersBeforeStart checks that the wait response headers arrive
// while the container has not even started (the CLI sends start only then),
// and the body once it exits.
func TestWaitHeadersBeforeStart(t *testing.T) {
	ts := startServer(t, Options{})
	id := ts.mustCreate(t, "", `{"Image":"busybox","Cmd":["exit","5"]}`)
	c := ts.dial(t)
	fmt.Fprintf(c, "POST /v1.47/containers/%s/wait?condition=next-exit HTTP/1.1\r\nHost: api.moby.localhost\r\nContent-Length: 0\r\n\r\n", id)
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	br := bufio.NewReader(c)
	head := readResponseHead(t, br)
	for _, want := range []string{"HTTP/1.1 200 OK\r\n", "Content-Type: application/json\r\n", "Transfer-Encoding: chunked\r\n", "Api-Version: 1.47\r\n"} {
		if !strings.Contains(head, want) {
			t.Errorf("wait head lacks %q:\n%s", want, head)
		}
	}
	ts.start(t, id)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var body bytes.Buffer
	for !strings.HasSuffix(body.String(), "0\r\n\r\n") {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("read body: %v (so far %q)", err, body.String())
		}
		body.WriteString(line)
	}
	want := "11\r\n{\"StatusCode\":5}\n\r\n0\r\n\r\n"
	if diff := cmp.Diff(want, body.String()); diff != "" {
		t.Errorf("wait body (-want +got):\n%s", diff)
	}
}

// TestLogsFraming checks logs framing, timestamps, tail, raw TTY logs, no
// Content-Type, and that follow streams lines as they come.
func TestLogsFraming(t *testing.T) {
	ts := startServer(t, Options{})
	plain := ts.mustCreate(t, "plain", `{"Image":"busybox","Cmd":["exit","0"]}`)
	tty := ts.mustCreate(t, "tty", `{"Image":"busybox","Cmd":["exit","0"],"Tty":true}`)
	for _, id := range []string{plain, tty} {
		ts.start(t, id)
		ts.do(t, "POST", "/containers/"+id+"/wait", "")
	}
	tests := []struct {
		name, path string
		want       func(t *testing.T, body []byte)
	}{
		{"both streams", "/containers/" + plain + "/logs?stderr=1&stdout=1&tail=all", func(t *testing.T, b []byte) {
			if diff := cmp.Diff([]string{"1:out\n", "2:err\n"}, frames(t, b)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		}},
		{"stdout only", "/containers/" + plain + "/logs?stdout=1", func(t *testing.T, b []byte) {
			if diff := cmp.Diff([]string{"1:out\n"}, frames(t, b)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		}},
		{"tail 1 with timestamps", "/containers/" + plain + "/logs?stderr=1&stdout=1&tail=1&timestamps=1", func(t *testing.T, b []byte) {
			f := frames(t, b)
			if len(f) != 1 || !strings.HasPrefix(f[0], "2:") || !strings.HasSuffix(f[0], "Z err\n") {
				t.Fatalf("frames = %q, want one stderr frame with a timestamp", f)
			}
			ts := strings.TrimSuffix(strings.TrimPrefix(f[0], "2:"), " err\n")
			if _, err := time.Parse(time.RFC3339Nano, ts); err != nil || len(ts) != len("2026-11-23T14:52:34.047764140Z") {
				t.Errorf("timestamp %q: %v (want fixed nine-digit nanoseconds)", ts, err)
			}
		}},
		{"tty is raw", "/containers/" + tty + "/logs?stderr=1&stdout=1", func(t *testing.T, b []byte) {
			if diff := cmp.Diff("out\nerr\n", string(b)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := ts.do(t, "GET", tt.path, "")
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if ct, ok := resp.Header["Content-Type"]; ok {
				t.Errorf("Content-Type = %q, want none", ct)
			}
			tt.want(t, []byte(body))
		})
	}

	t.Run("follow streams as lines come", func(t *testing.T) {
		id := ts.mustCreate(t, "ticker", `{"Image":"busybox","Cmd":["tick","5"]}`)
		ts.start(t, id)
		resp, err := ts.httpClient().Get("http://x/v1.47/containers/" + id + "/logs?follow=1&stdout=1&stderr=1&tail=all")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var got []string
		var arrivals []time.Time
		hdr := make([]byte, 8)
		for {
			if _, err := io.ReadFull(resp.Body, hdr); err != nil {
				if err != io.EOF {
					t.Fatal(err)
				}
				break
			}
			p := make([]byte, int(hdr[7]))
			if _, err := io.ReadFull(resp.Body, p); err != nil {
				t.Fatal(err)
			}
			got = append(got, string(p))
			arrivals = append(arrivals, time.Now())
		}
		want := []string{"tick 0\n", "tick 1\n", "tick 2\n", "tick 3\n", "tick 4\n"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("(-want +got):\n%s", diff)
		}
		if spread := arrivals[len(arrivals)-1].Sub(arrivals[0]); spread < 60*time.Millisecond {
			t.Errorf("all lines arrived within %v: not streamed", spread)
		}
	})
}

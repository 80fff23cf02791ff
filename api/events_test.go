package api

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	evtypes "github.com/moby/moby/api/types/events"

	"github.com/gantry/gantry/events"
)

func (b *fakeBackend) SubscribeEvents(since time.Time) ([]events.Message, *events.Subscription) {
	return b.bus.Subscribe(since)
}

func TestEvents(t *testing.T) {
	ts := startServer(t, Options{})
	start := time.Now()
	ts.b.bus.Publish(evtypes.Message{Type: "container", Action: "create", Actor: evtypes.Actor{ID: "c1", Attributes: map[string]string{"name": "web", "image": "busybox"}}})
	ts.b.bus.Publish(evtypes.Message{Type: "network", Action: "create", Actor: evtypes.Actor{ID: "n1", Attributes: map[string]string{"name": "front"}}})

	// since and until in the past: the recorded events, then the end.
	resp, body := ts.do(t, "GET", fmt.Sprintf("/events?since=%d.%09d&until=%d", start.Unix(), start.Nanosecond(), time.Now().Unix()+1), "")
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(body), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("event line %q: %v", line, err)
		}
		got = append(got, fmt.Sprint(m["Type"], " ", m["Action"], " ", m["status"], " ", m["from"]))
	}
	if diff := cmp.Diff([]string{"container create create busybox", "network create <nil> <nil>"}, got); resp.StatusCode != 200 || diff != "" {
		t.Errorf("events since: %d (-want +got):\n%s", resp.StatusCode, diff)
	}

	// A stream with a filter: only what passes, as it is published.
	c := ts.dial(t)
	fmt.Fprintf(c, "GET /v1.41/events?filters=%s HTTP/1.1\r\nHost: x\r\n\r\n", `%7B%22type%22%3A%5B%22container%22%5D%7D`)
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("stream: %v %v", res, err)
	}
	ts.b.bus.Publish(evtypes.Message{Type: "network", Action: "destroy", Actor: evtypes.Actor{ID: "n1"}})
	ts.b.bus.Publish(evtypes.Message{Type: "container", Action: "die", Actor: evtypes.Actor{ID: "c1", Attributes: map[string]string{"exitCode": "3"}}})
	var m events.Message
	if err := json.NewDecoder(res.Body).Decode(&m); err != nil || m.Action != "die" || m.Actor.Attributes["exitCode"] != "3" {
		t.Errorf("streamed event: %+v %v", m, err)
	}

	// until alone: the whole history up to it, as dockerd.
	_, body = ts.do(t, "GET", fmt.Sprintf("/events?until=%d", time.Now().Unix()+1), "")
	if n := strings.Count(body, "\n"); n != 4 {
		t.Errorf("events?until= gave %d events, want the 4 published:\n%s", n, body)
	}

	for _, tc := range []struct{ query, want string }{
		{"filters=%7B%22colour%22%3A%7B%22red%22%3Atrue%7D%7D", "invalid filter 'colour'"},
		{"since=20&until=10", "`since` time (20) cannot be after `until` time (10)"},
		{"since=yesterday", `failed to parse value as time or duration`},
	} {
		resp, body := ts.do(t, "GET", "/events?"+tc.query, "")
		if resp.StatusCode != 400 || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s, want 400 %q", tc.query, resp.StatusCode, body, tc.want)
		}
	}
}

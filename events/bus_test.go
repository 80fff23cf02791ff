package events

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/events"
)

func container(action, id string, attrs map[string]string) events.Message {
	return events.Message{Type: events.ContainerEventType, Action: events.Action(action), Actor: events.Actor{ID: id, Attributes: attrs}}
}

func TestHistoryKeepsTheLastEvents(t *testing.T) {
	b := New()
	start := time.Now()
	for i := range HistorySize + 10 {
		b.Publish(container("start", string(rune('a'+i%26)), nil))
	}
	past, sub := b.Subscribe(start)
	defer sub.Close()
	if len(past) != HistorySize {
		t.Fatalf("replayed %d events, want %d", len(past), HistorySize)
	}
	for i := 1; i < len(past); i++ {
		if past[i].TimeNano < past[i-1].TimeNano {
			t.Fatalf("event %d older than event %d", i, i-1)
		}
	}
	if got, want := past[0].Actor.ID, string(rune('a'+10%26)); got != want {
		t.Errorf("oldest replayed event is %q, want %q (the first 10 dropped)", got, want)
	}
}

func TestSubscribeSeesLaterEventsOnce(t *testing.T) {
	b := New()
	b.Publish(container("create", "c1", map[string]string{"image": "busybox"}))
	past, sub := b.Subscribe(time.Unix(0, 1))
	defer sub.Close()
	b.Publish(container("start", "c1", map[string]string{"image": "busybox"}))
	if len(past) != 1 || past[0].Action != "create" {
		t.Fatalf("past = %+v, want the create", past)
	}
	got := <-sub.C()
	want := Message{Status: "start", ID: "c1", From: "busybox"}
	if diff := cmp.Diff(want, Message{Status: got.Status, ID: got.ID, From: got.From}); diff != "" {
		t.Errorf("legacy fields (-want +got):\n%s", diff)
	}
	if got.Scope != "local" || got.TimeNano == 0 || got.Time != got.TimeNano/1e9 {
		t.Errorf("scope %q, time %d, timeNano %d", got.Scope, got.Time, got.TimeNano)
	}
}

func TestSlowSubscriberIsDropped(t *testing.T) {
	b := New()
	_, sub := b.Subscribe(time.Time{})
	for range subscriberQueue + 1 {
		b.Publish(container("start", "c", nil))
	}
	n := 0
	for range sub.C() {
		n++
	}
	if n != subscriberQueue {
		t.Errorf("received %d events before the drop, want %d", n, subscriberQueue)
	}
	sub.Close() // closing a dropped subscription is harmless
}

func TestFilter(t *testing.T) {
	web := Message{Message: container("die", "abcdef", map[string]string{"name": "web", "image": "busybox:latest", "exitCode": "3", "tier": "front"})}
	web.Scope = "local"
	execStart := Message{Message: container("exec_start: sh -c true", "abcdef", map[string]string{"name": "web"})}
	net := Message{Message: events.Message{Type: events.NetworkEventType, Action: "connect", Actor: events.Actor{ID: "n1", Attributes: map[string]string{"name": "front", "container": "abcdef"}}}}
	for _, tc := range []struct {
		name   string
		filter Filter
		msg    Message
		want   bool
	}{
		{"none", Filter{}, web, true},
		{"type", Filter{"type": {"container": true}}, web, true},
		{"other type", Filter{"type": {"image": true}}, web, false},
		{"event", Filter{"event": {"die": true, "start": true}}, web, true},
		{"other event", Filter{"event": {"start": true}}, web, false},
		{"exec_start prefix", Filter{"event": {"exec_start": true}}, execStart, true},
		{"container name", Filter{"container": {"web": true}}, web, true},
		{"container ID prefix", Filter{"container": {"abc": true}}, web, true},
		{"other container", Filter{"container": {"db": true}}, web, false},
		{"container filter drops network events", Filter{"container": {"web": true}}, net, false},
		{"network name", Filter{"network": {"front": true}}, net, true},
		{"image with tag", Filter{"image": {"busybox:latest": true}}, web, true},
		{"image without tag", Filter{"image": {"busybox": true}}, web, true},
		{"label key", Filter{"label": {"tier": true}}, web, true},
		{"label value", Filter{"label": {"tier=front": true}}, web, true},
		{"label other value", Filter{"label": {"tier=back": true}}, web, false},
		{"scope", Filter{"scope": {"swarm": true}}, web, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.filter.Include(tc.msg); got != tc.want {
				t.Errorf("Include = %v, want %v", got, tc.want)
			}
		})
	}
	if err := (Filter{"colour": {"red": true}}).Check(); err == nil || err.Error() != "invalid filter 'colour'" {
		t.Errorf("Check of an unknown key: %v", err)
	}
}

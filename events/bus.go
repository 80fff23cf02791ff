package events

import (
	"sync"
	"time"

	"github.com/moby/moby/api/types/events"
)

// HistorySize is how many events the bus keeps for subscribers that ask
// for older ones (`docker events --since`); dockerd keeps 256.
const HistorySize = 1024

// subscriberQueue bounds the events waiting for one subscriber; a
// subscriber that falls that far behind is dropped (its channel closed), so
// a client that does not read never holds the bus or gantryd's memory.
const subscriberQueue = 1024

// Message is an event as dockerd writes it: moby's events.Message plus the
// fields dockerd still fills for API versions before 1.52 (`status`, `id`,
// `from`), which docker-compose 1.29 reads.
type Message struct {
	Status string `json:"status,omitempty"`
	ID     string `json:"id,omitempty"`
	From   string `json:"from,omitempty"`
	events.Message
}

// Bus delivers published events to its subscribers and keeps the last
// HistorySize of them. The zero value is not usable; use New.
type Bus struct {
	mu      sync.Mutex
	history []Message // a ring: next is where the next event goes
	next    int
	full    bool
	subs    map[*Subscription]struct{}
}

// New returns an empty bus.
func New() *Bus {
	return &Bus{history: make([]Message, HistorySize), subs: map[*Subscription]struct{}{}}
}

// Publish stamps m with the time (when it has none) and scope "local",
// records it and hands it to every subscriber without waiting for any.
func (b *Bus) Publish(m events.Message) {
	if m.TimeNano == 0 {
		now := time.Now()
		m.Time, m.TimeNano = now.Unix(), now.UnixNano()
	}
	if m.Scope == "" {
		m.Scope = "local"
	}
	if m.Actor.Attributes == nil {
		m.Actor.Attributes = map[string]string{}
	}
	msg := Message{Message: m}
	// The fields of API versions before 1.52, as dockerd fills them.
	switch m.Type {
	case events.ContainerEventType, events.ImageEventType:
		msg.Status, msg.ID = string(m.Action), m.Actor.ID
		if m.Type == events.ContainerEventType {
			msg.From = m.Actor.Attributes["image"]
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.history[b.next] = msg
	b.next = (b.next + 1) % len(b.history)
	if b.next == 0 {
		b.full = true
	}
	for s := range b.subs {
		select {
		case s.c <- msg:
		default:
			delete(b.subs, s)
			close(s.c)
		}
	}
}

// Subscription receives the events published after Subscribe returned.
type Subscription struct {
	c   chan Message
	bus *Bus
}

// C yields the events in order. It is closed by Close, or when the
// subscriber fell more than 1,024 events behind (it was dropped).
func (s *Subscription) C() <-chan Message { return s.c }

// Close ends the subscription; C is closed.
func (s *Subscription) Close() {
	s.bus.mu.Lock()
	defer s.bus.mu.Unlock()
	if _, ok := s.bus.subs[s]; ok {
		delete(s.bus.subs, s)
		close(s.c)
	}
}

// Subscribe returns the recorded events published at or after since (none
// when since is zero), oldest first, and a subscription to the following
// ones: no event is in both, none is missed between them.
func (b *Bus) Subscribe(since time.Time) ([]Message, *Subscription) {
	s := &Subscription{c: make(chan Message, subscriberQueue), bus: b}
	b.mu.Lock()
	defer b.mu.Unlock()
	var past []Message
	if !since.IsZero() {
		from := since.UnixNano()
		n := b.next
		if b.full {
			n = len(b.history)
		}
		for i := range n {
			m := b.history[i]
			if b.full {
				m = b.history[(b.next+i)%len(b.history)]
			}
			if m.TimeNano >= from {
				past = append(past, m)
			}
		}
	}
	b.subs[s] = struct{}{}
	return past, s
}

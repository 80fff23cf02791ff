package dns

import (
	"errors"
	"net"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// tokenBucket allows rate events a second on average, burst at once.
type tokenBucket struct {
	rate, burst float64
	now         func() time.Time

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

func newTokenBucket(rate, burst float64, now func() time.Time) *tokenBucket {
	return &tokenBucket{rate: rate, burst: burst, now: now, tokens: burst, last: now()}
}

// allow takes a token if there is one.
func (b *tokenBucket) allow() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.now()
	b.tokens = min(b.burst, b.tokens+t.Sub(b.last).Seconds()*b.rate)
	b.last = t
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// errRateLimited ends a TCP connection whose client asks too fast.
var errRateLimited = errors.New("dns: too many questions")

// limitReader is the servers' Reader, rate limited: a UDP message over the
// limit is dropped and the next one read (the client sees a lost packet
// and retries later); a TCP connection over the limit is closed.
type limitReader struct {
	dns.Reader
	limit *tokenBucket
}

func (l *limitReader) ReadUDP(conn *net.UDPConn, timeout time.Duration) ([]byte, *dns.SessionUDP, error) {
	for {
		m, s, err := l.Reader.ReadUDP(conn, timeout)
		if err != nil || l.limit.allow() {
			return m, s, err
		}
	}
}

func (l *limitReader) ReadTCP(conn net.Conn, timeout time.Duration) ([]byte, error) {
	m, err := l.Reader.ReadTCP(conn, timeout)
	if err == nil && !l.limit.allow() {
		return nil, errRateLimited
	}
	return m, err
}

package dns

import (
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
	tokens float64 // below zero: owed to the takers waiting
	last   time.Time
}

func newTokenBucket(rate, burst float64, now func() time.Time) *tokenBucket {
	return &tokenBucket{rate: rate, burst: burst, now: now, tokens: burst, last: now()}
}

// take takes a token and returns how long to wait before using it: zero
// if there was one, else until it will have been earned.
func (b *tokenBucket) take() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.now()
	b.tokens = min(b.burst, b.tokens+t.Sub(b.last).Seconds()*b.rate)
	b.last = t
	b.tokens--
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / b.rate * float64(time.Second))
}

// limitReader is the servers' Reader, rate limited: once the burst is
// spent, each message is read only when its token is earned. A flood is
// left in the socket's receive buffer, where the kernel drops what does
// not fit: it costs gantryd no more than the rate, and other containers'
// servers nothing.
type limitReader struct {
	dns.Reader
	limit *tokenBucket
}

func (l *limitReader) ReadUDP(conn *net.UDPConn, timeout time.Duration) ([]byte, *dns.SessionUDP, error) {
	time.Sleep(l.limit.take())
	return l.Reader.ReadUDP(conn, timeout)
}

func (l *limitReader) ReadTCP(conn net.Conn, timeout time.Duration) ([]byte, error) {
	time.Sleep(l.limit.take())
	return l.Reader.ReadTCP(conn, timeout)
}

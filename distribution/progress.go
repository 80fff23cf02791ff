package distribution

import (
	"encoding/json"
	"sync"

	"github.com/moby/moby/api/types/jsonstream"
	"github.com/opencontainers/go-digest"
)

// progress writes the JSON messages of a pull or push from several
// goroutines. Write errors (the client is gone) are dropped: the request's
// context is cancelled then, which stops the transfer.
type progress struct {
	mu  sync.Mutex
	out Output
}

func newProgress(out Output) *progress { return &progress{out: out} }

// status writes a plain status line ("Digest: ...").
func (p *progress) status(text string) {
	p.write(jsonstream.Message{Status: text})
}

// layer writes a status of one layer or blob ("Pull complete").
func (p *progress) layer(id, status string) {
	p.write(jsonstream.Message{Status: status, ID: id, Progress: &jsonstream.Progress{}})
}

// bytes writes a transfer's progress ("Downloading" 1.2MB/3MB).
func (p *progress) bytes(id, status string, current, total int64) {
	p.write(jsonstream.Message{Status: status, ID: id, Progress: &jsonstream.Progress{Current: current, Total: total}})
}

// aux writes a result for programs ({"Tag","Digest","Size"} of a push).
func (p *progress) aux(v any) {
	data, err := json.Marshal(v)
	if err != nil {
		return
	}
	raw := json.RawMessage(data)
	p.write(jsonstream.Message{Aux: &raw, Progress: &jsonstream.Progress{}})
}

func (p *progress) write(m jsonstream.Message) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.out.Write(m)
}

// shortID is how progress names a blob or layer: 12 hex digits.
func shortID(d digest.Digest) string {
	e := d.Encoded()
	if len(e) > 12 {
		return e[:12]
	}
	return e
}

// discard is an Output that drops everything (quiet builds).
type discard struct{}

func (discard) Write(jsonstream.Message) error { return nil }

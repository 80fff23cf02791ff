package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/moby/moby/api/types/jsonstream"
)

// stepPrinter renders the classic builder's JSON stream one line per step,
// with the step's time or CACHED and the ID of its result:
//
//	#1 FROM busybox  0.01s  a38bbcd23583
//	#2 COPY . /app  CACHED  3f2a9b1c0d4e
//	#3 RUN echo hi  0.41s  18f502791107
//
// The step's own output (RUN output, the daemon's notes such as why the
// cache missed) is shown under its header, prefixed with "#N "; the
// container bookkeeping lines (Running in, Removing intermediate container)
// are left out. Everything else is printed as it comes.
type stepPrinter struct {
	out io.Writer
	now func() time.Time

	partial string // stream text not yet ended by a newline
	cur     *buildStep
	open    bool // cur's header is printed without its newline
}

type buildStep struct {
	n      string
	text   string
	start  time.Time
	cached bool
	id     string
}

var (
	stepHeaderRe = regexp.MustCompile(`^Step (\d+)/\d+ : (.*)$`)
	stepResultRe = regexp.MustCompile(`^ ---> ([0-9a-f]{12})$`)
	stepHiddenRe = regexp.MustCompile(`^( ---> Running in [0-9a-f]+|Removing intermediate container [0-9a-f]+)$`)
)

func newStepPrinter(out io.Writer) *stepPrinter {
	return &stepPrinter{out: out, now: time.Now}
}

// display reads the stream from in until it ends, calling aux with each
// aux message; a message with errorDetail ends it with that error (a
// *jsonstream.Error), as jsonmessage.DisplayJSONMessagesStream does.
func (p *stepPrinter) display(in io.Reader, aux func(jsonstream.Message)) error {
	dec := json.NewDecoder(in)
	for {
		var m jsonstream.Message
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			p.end("")
			return err
		}
		if err := p.message(m, aux); err != nil {
			return err
		}
	}
	p.end("")
	return nil
}

func (p *stepPrinter) message(m jsonstream.Message, aux func(jsonstream.Message)) error {
	switch {
	case m.Error != nil:
		p.end("ERROR")
		return m.Error
	case m.Aux != nil:
		if aux != nil {
			aux(m)
		}
	case m.Stream != "":
		// The stream colours a step's stderr (and the parser's warnings)
		// red, dockerd's way; this display shows them plain, under their
		// step.
		text := p.partial + stripColour.Replace(m.Stream)
		for {
			i := strings.IndexByte(text, '\n')
			if i < 0 {
				break
			}
			p.line(strings.TrimSuffix(text[:i], "\r"))
			text = text[i+1:]
		}
		p.partial = text
	case m.Status != "":
		if m.Progress != nil && (m.Progress.Current > 0 || m.Progress.Total > 0) {
			return nil // no progress bars in this display
		}
		p.closeHeader()
		if m.ID != "" {
			fmt.Fprintf(p.out, "%s: ", m.ID)
		}
		fmt.Fprintln(p.out, m.Status)
	}
	return nil
}

var stripColour = strings.NewReplacer("\x1b[91m", "", "\x1b[0m", "")

// line handles one complete line of stream text.
func (p *stepPrinter) line(l string) {
	if m := stepHeaderRe.FindStringSubmatch(l); m != nil {
		p.finish("")
		p.cur = &buildStep{n: m[1], text: m[2], start: p.now()}
		fmt.Fprintf(p.out, "#%s %s", p.cur.n, p.cur.text)
		p.open = true
		return
	}
	if p.cur != nil {
		switch {
		case l == " ---> Using cache":
			p.cur.cached = true
			return
		case stepHiddenRe.MatchString(l):
			return
		case stepResultRe.MatchString(l):
			p.cur.id = stepResultRe.FindStringSubmatch(l)[1]
			return
		case strings.HasPrefix(l, "Successfully built "):
			p.finish("")
		default:
			p.closeHeader()
			fmt.Fprintf(p.out, "#%s %s\n", p.cur.n, l)
			return
		}
	}
	p.closeHeader()
	fmt.Fprintln(p.out, l)
}

// end flushes an unterminated line and finishes the current step, with
// status when not empty (else its time).
func (p *stepPrinter) end(status string) {
	if p.partial != "" {
		l := p.partial
		p.partial = ""
		p.line(l)
	}
	p.finish(status)
}

// finish ends the current step's line: appended to its header when nothing
// came between, else repeated in full.
func (p *stepPrinter) finish(status string) {
	s := p.cur
	if s == nil {
		return
	}
	p.cur = nil
	if status == "" {
		status = formatStepTime(p.now().Sub(s.start))
		if s.cached {
			status = "CACHED"
		}
	}
	if s.id != "" && status != "ERROR" {
		status += "  " + s.id
	}
	if p.open {
		fmt.Fprintf(p.out, "  %s\n", status)
		p.open = false
		return
	}
	fmt.Fprintf(p.out, "#%s %s  %s\n", s.n, s.text, status)
}

// closeHeader ends the open header line so that other output can follow.
func (p *stepPrinter) closeHeader() {
	if p.open {
		fmt.Fprintln(p.out)
		p.open = false
	}
}

func formatStepTime(d time.Duration) string {
	return fmt.Sprintf("%.2fs", d.Seconds())
}

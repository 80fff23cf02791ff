package image

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/opencontainers/go-digest"
)

// The store's state on disk is a snapshot, images.json, and a journal,
// images.log: one JSON line per saved change, holding the new value of
// every record and reference the change touched (null and "" for removed
// ones). Replaying the journal over the snapshot gives the state; values
// are absolute, so replaying a line twice is harmless. A change is saved by
// appending its line and fsyncing, which costs what the change touched,
// not the size of the store; once the journal outgrows the snapshot (and
// 1 MiB), the state is written as a new snapshot and the journal emptied.
//
// A crash while appending leaves a torn last line, which New drops: the
// change was never acknowledged. A crash between writing a snapshot and
// emptying the journal leaves lines the snapshot holds, replayed again.

// journalEntry is one line of the journal.
type journalEntry struct {
	Images map[digest.Digest]*record `json:"i,omitempty"`
	Refs   map[string]digest.Digest  `json:"r,omitempty"`
}

// minCompact is the journal size below which it is never compacted.
var minCompact int64 = 1 << 20 // a variable for the tests

// journal is the open images.log.
type journal struct {
	f    *os.File
	size int64
}

// openJournal opens the journal at path and replays it onto st. A torn
// last line is cut off.
func openJournal(path string, st *state) (*journal, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	r := bufio.NewReader(f)
	var good int64
	for {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			break // a last line without its newline is torn
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		var e journalEntry
		if err := json.Unmarshal(bytes.TrimSpace(line), &e); err != nil {
			break // torn: nothing after it was acknowledged
		}
		e.apply(st)
		good += int64(len(line))
	}
	if err := f.Truncate(good); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return &journal{f: f, size: good}, nil
}

func (e *journalEntry) apply(st *state) {
	for id, r := range e.Images {
		if r == nil {
			delete(st.Images, id)
		} else {
			st.Images[id] = r
		}
	}
	for ref, id := range e.Refs {
		if id == "" {
			delete(st.Refs, ref)
		} else {
			st.Refs[ref] = id
		}
	}
}

// append writes e as one line, durably. On error the journal is as it was.
func (j *journal) append(e journalEntry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if _, err := j.f.Write(b); err != nil {
		j.f.Truncate(j.size)
		j.f.Seek(j.size, io.SeekStart)
		return fmt.Errorf("save images: %w", err)
	}
	if err := j.f.Sync(); err != nil {
		j.f.Truncate(j.size)
		j.f.Seek(j.size, io.SeekStart)
		return fmt.Errorf("save images: %w", err)
	}
	j.size += int64(len(b))
	return nil
}

// reset empties the journal once a snapshot holds what it held.
func (j *journal) reset() error {
	if err := j.f.Truncate(0); err != nil {
		return err
	}
	if _, err := j.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	j.size = 0
	return j.f.Sync()
}

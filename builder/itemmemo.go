package builder

import (
	"bytes"
	"hash"
	"io"
	"sync"
	"time"
)

// Bounds of itemMemo: as many contexts as the store of synced contexts
// keeps copies (ctxsync.DefaultKeep), and at most maxMemoBytes of records
// in all (W4's 30,000 files take about 5 MB), the least recently used
// context's going first; a record over a quarter of it is not kept.
const (
	maxMemoDirs  = 8
	maxMemoBytes = 64 << 20
)

// itemMemo remembers what digestItem gave for the items of a synced
// context (what it wrote into the key's hash, the first files it noted),
// by the context's directory and generation, a token the store of synced
// contexts changes whenever a sync changes anything in the copy
// (ContextSums.SetGeneration): a build whose sync changed nothing makes
// its COPY keys without walking the context again. Only the latest
// generation of a directory is kept.
type itemMemo struct {
	mu    sync.Mutex
	dirs  map[string]*dirMemo
	bytes int // of every record
}

type dirMemo struct {
	gen   string
	used  time.Time
	bytes int                    // of its records
	items map[string]*itemRecord // by the item's path in the context
}

// itemRecord is one digestItem: the bytes it wrote into the hash, and the
// files it noted (the first maxFiles+1, in order: past that the caller
// drops them all).
type itemRecord struct {
	lines []byte
	files [][2]string
}

// size is about what the record holds in memory.
func (r *itemRecord) size() int {
	n := len(r.lines)
	for _, f := range r.files {
		n += len(f[0]) + len(f[1]) + 32
	}
	return n
}

func newItemMemo() *itemMemo { return &itemMemo{dirs: map[string]*dirMemo{}} }

func (m *itemMemo) get(dir, gen, rel string) *itemRecord {
	if m == nil || gen == "" {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.dirs[dir]
	if d == nil || d.gen != gen {
		return nil
	}
	d.used = time.Now()
	return d.items[rel]
}

func (m *itemMemo) put(dir, gen, rel string, rec *itemRecord) {
	size := rec.size()
	if m == nil || gen == "" || size > maxMemoBytes/4 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.dirs[dir]
	if d != nil && d.gen != gen {
		m.drop(dir) // an older generation's
		d = nil
	}
	if d == nil {
		d = &dirMemo{gen: gen, items: map[string]*itemRecord{}}
		m.dirs[dir] = d
	}
	d.used = time.Now()
	if old := d.items[rel]; old != nil {
		d.bytes -= old.size()
		m.bytes -= old.size()
	}
	d.items[rel] = rec
	d.bytes += size
	m.bytes += size
	for len(m.dirs) > maxMemoDirs || m.bytes > maxMemoBytes {
		oldest := ""
		for k, v := range m.dirs {
			if k != dir && (oldest == "" || v.used.Before(m.dirs[oldest].used)) {
				oldest = k
			}
		}
		if oldest == "" {
			break
		}
		m.drop(oldest)
	}
	if m.bytes > maxMemoBytes { // this context's records alone
		m.drop(dir)
	}
}

// drop forgets the records of dir; m.mu is held.
func (m *itemMemo) drop(dir string) {
	if d := m.dirs[dir]; d != nil {
		m.bytes -= d.bytes
		delete(m.dirs, dir)
	}
}

// digestContextItem is digestItem of the item rel of the build's context,
// from the memo when the context is a synced one that did not change
// since the build that recorded it.
func (r *run) digestContextItem(rel string, h hash.Hash, files map[string]string) error {
	sums := r.opts.ContextSums
	gen := ""
	if sums != nil {
		gen = sums.gen
	}
	if rec := r.b.memo.get(r.ctxDir, gen, rel); rec != nil {
		h.Write(rec.lines)
		if files != nil {
			for _, f := range rec.files {
				if len(files) <= maxFiles {
					files[f[0]] = f[1]
				}
			}
		}
		return nil
	}
	if gen == "" {
		return digestItem(r.ctxDir, rel, h, files, sums)
	}
	var lines bytes.Buffer
	rec := &itemRecord{}
	note := func(name, sum string) {
		if len(rec.files) <= maxFiles {
			rec.files = append(rec.files, [2]string{name, sum})
		}
	}
	if err := walkDigest(r.ctxDir, rel, io.MultiWriter(h, &lines), note, sums); err != nil {
		return err
	}
	rec.lines = lines.Bytes()
	if files != nil {
		for _, f := range rec.files {
			if len(files) <= maxFiles {
				files[f[0]] = f[1]
			}
		}
	}
	r.b.memo.put(r.ctxDir, gen, rel, rec)
	return nil
}

package builder

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// TestItemMemo: a synced context's COPY source digests are taken from the
// memo while the context's generation is the one they were made in (a
// file changed behind the store's back is not seen, which shows the tree
// was not walked again), and give what walking gives; a new generation, a
// tar's context (no generation) and a context the builder changed
// (forget) are walked; the files noted are the same either way.
func TestItemMemo(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i < 5; i++ {
		os.MkdirAll(filepath.Join(dir, "src", "d"+strconv.Itoa(i)), 0o755)
		os.WriteFile(filepath.Join(dir, "src", "d"+strconv.Itoa(i), "f"), []byte("content "+strconv.Itoa(i)), 0o644)
	}
	b := &Builder{memo: newItemMemo()}
	digest := func(gen string) (string, map[string]string) {
		t.Helper()
		sums := NewContextSums()
		sums.SetGeneration(gen)
		r := &run{b: b, ctxDir: dir, opts: Options{ContextSums: sums}}
		h := sha256.New()
		files := map[string]string{}
		if err := r.digestContextItem("src", h, files); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%x", h.Sum(nil)), files
	}
	walked, walkedFiles := digest("")
	first, firstFiles := digest("g1")
	if first != walked || fmt.Sprint(firstFiles) != fmt.Sprint(walkedFiles) || len(firstFiles) != 5 {
		t.Fatalf("the recording digest differs from a walk: %s %v, %s %v", first, firstFiles, walked, walkedFiles)
	}
	os.WriteFile(filepath.Join(dir, "src", "d3", "f"), []byte("changed behind the store's back"), 0o644)
	if again, files := digest("g1"); again != first || fmt.Sprint(files) != fmt.Sprint(firstFiles) {
		t.Errorf("the same generation was walked again or gave another digest")
	}
	if now, _ := digest(""); now == first {
		t.Errorf("the test's change did not change the walked digest")
	}
	if g2, _ := digest("g2"); g2 == first {
		t.Errorf("a new generation used the memo")
	}
	sums := NewContextSums()
	sums.SetGeneration("g2")
	sums.forget("src/d0/f")
	if sums.gen != "" {
		t.Errorf("a context the builder changed keeps its generation")
	}
}

// TestItemMemoBounds: the memo keeps maxMemoDirs contexts and
// maxMemoBytes of records at most, the least recently used going first,
// and a context's new generation replaces its records.
func TestItemMemoBounds(t *testing.T) {
	m := newItemMemo()
	rec := func(n int) *itemRecord { return &itemRecord{lines: make([]byte, n)} }
	for i := 0; i < maxMemoDirs+3; i++ {
		m.put("dir"+strconv.Itoa(i), "g", ".", rec(10))
	}
	if len(m.dirs) != maxMemoDirs || m.get("dir0", "g", ".") != nil || m.get("dir"+strconv.Itoa(maxMemoDirs+2), "g", ".") == nil {
		t.Errorf("%d contexts kept, or the wrong ones", len(m.dirs))
	}
	m.put("big1", "g", "a", rec(maxMemoBytes/4))
	m.put("big2", "g", "a", rec(maxMemoBytes/4))
	m.put("big2", "g", "b", rec(maxMemoBytes/4))
	m.put("big3", "g", "a", rec(maxMemoBytes/4))
	m.put("big4", "g", "a", rec(maxMemoBytes/4))
	if m.bytes > maxMemoBytes || m.get("big4", "g", "a") == nil || m.get("big1", "g", "a") != nil {
		t.Errorf("%d bytes kept (limit %d)", m.bytes, maxMemoBytes)
	}
	m.put("huge", "g", "a", rec(maxMemoBytes/4+1))
	if m.get("huge", "g", "a") != nil {
		t.Error("a record over a quarter of the budget was kept")
	}
	before := m.bytes
	m.put("big4", "g2", "a", rec(10))
	if m.get("big4", "g", "a") != nil || m.bytes != before-maxMemoBytes/4+10 {
		t.Errorf("a new generation kept the old records: %d bytes, was %d", m.bytes, before)
	}
	total := 0
	for _, d := range m.dirs {
		total += d.bytes
	}
	if total != m.bytes {
		t.Errorf("the count of bytes %d is not the records' %d", m.bytes, total)
	}
}

package content

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/containerd/errdefs"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
)

func newStore(t *testing.T) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := New(filepath.Join(dir, "content"), filepath.Join(dir, "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	return s, dir
}

func TestPutOpen(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		data     []byte
		expected func(d digest.Digest) digest.Digest
		wantErr  func(error) bool
	}{
		{name: "no expected digest", data: []byte("hello")},
		{name: "matching digest", data: []byte("hello"), expected: func(d digest.Digest) digest.Digest { return d }},
		{name: "empty blob", data: nil},
		{
			name:     "mismatch",
			data:     []byte("hello"),
			expected: func(digest.Digest) digest.Digest { return digest.FromString("other") },
			wantErr:  errdefs.IsInvalidArgument,
		},
		{
			name:     "invalid expected digest",
			data:     []byte("hello"),
			expected: func(digest.Digest) digest.Digest { return "sha256:../../etc/passwd" },
			wantErr:  errdefs.IsInvalidArgument,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, dir := newStore(t)
			want := digest.FromBytes(tc.data)
			var exp digest.Digest
			if tc.expected != nil {
				exp = tc.expected(want)
			}
			d, n, err := s.Put(ctx, bytes.NewReader(tc.data), exp)
			if tc.wantErr != nil {
				if !tc.wantErr(err) {
					t.Fatalf("Put error = %v, want class match", err)
				}
				if _, err := s.Open(ctx, want); !errdefs.IsNotFound(err) {
					t.Errorf("blob stored after failed Put: %v", err)
				}
				assertEmpty(t, filepath.Join(dir, "tmp"))
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d != want || n != int64(len(tc.data)) {
				t.Fatalf("Put = %s, %d; want %s, %d", d, n, want, len(tc.data))
			}
			got, err := s.ReadAll(ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(tc.data), string(got)); diff != "" {
				t.Errorf("content (-want +got):\n%s", diff)
			}
			if sz, err := s.Size(ctx, d); err != nil || sz != int64(len(tc.data)) {
				t.Errorf("Size = %d, %v", sz, err)
			}
			if err := s.Verify(ctx, d); err != nil {
				t.Errorf("Verify: %v", err)
			}
			assertEmpty(t, filepath.Join(dir, "tmp"))
		})
	}
}

func TestMismatchNamesBothDigests(t *testing.T) {
	s, _ := newStore(t)
	exp := digest.FromString("other")
	_, _, err := s.Put(context.Background(), strings.NewReader("hello"), exp)
	if err == nil || !strings.Contains(err.Error(), exp.String()) || !strings.Contains(err.Error(), digest.FromString("hello").String()) {
		t.Fatalf("error %v does not name both digests", err)
	}
}

// TestPutSourceError: a failing source's error comes back as it is (not
// as a write error), and nothing stays staged.
func TestPutSourceError(t *testing.T) {
	s, dir := newStore(t)
	cut := errors.New("connection cut")
	_, _, err := s.Put(context.Background(), io.MultiReader(strings.NewReader("part"), iotest.ErrReader(cut)), "")
	if err != cut {
		t.Errorf("Put of a failing source: %v, want %v", err, cut)
	}
	assertEmpty(t, filepath.Join(dir, "tmp"))
}

func TestIdempotentPut(t *testing.T) {
	ctx := context.Background()
	s, dir := newStore(t)
	for i := 0; i < 3; i++ {
		d, err := s.PutBytes(ctx, []byte("same"))
		if err != nil || d != digest.FromString("same") {
			t.Fatalf("PutBytes #%d = %s, %v", i, d, err)
		}
	}
	var seen []digest.Digest
	if err := s.Walk(ctx, func(d digest.Digest, _ int64) error { seen = append(seen, d); return nil }); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]digest.Digest{digest.FromString("same")}, seen); diff != "" {
		t.Errorf("Walk (-want +got):\n%s", diff)
	}
	// Putting a blob that is already stored leaves no staged copy behind.
	assertEmpty(t, filepath.Join(dir, "tmp"))
}

func TestWriter(t *testing.T) {
	ctx := context.Background()
	s, dir := newStore(t)

	w, err := s.Writer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "abc")
	io.WriteString(w, "def")
	if w.Digest() != digest.FromString("abcdef") || w.Size() != 6 {
		t.Fatalf("Digest, Size = %s, %d", w.Digest(), w.Size())
	}
	d, err := w.Commit(ctx, digest.FromString("abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("Close after Commit: %v", err)
	}
	if got, _ := s.ReadAll(ctx, d); string(got) != "abcdef" {
		t.Errorf("ReadAll = %q", got)
	}

	// An uncommitted writer leaves nothing behind.
	w, err = s.Writer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "discard me")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(ctx, digest.FromString("discard me")); !errdefs.IsNotFound(err) {
		t.Errorf("Open discarded blob: %v", err)
	}
	assertEmpty(t, filepath.Join(dir, "tmp"))
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	missing := digest.FromString("missing")
	tests := []struct {
		name string
		d    digest.Digest
		want func(error) bool
	}{
		{"missing", missing, errdefs.IsNotFound},
		{"bad hex", "sha256:zz", errdefs.IsInvalidArgument},
		{"traversal", "sha256:../../../../etc/passwd", errdefs.IsInvalidArgument},
		{"other algorithm", digest.Digest("sha512:" + strings.Repeat("ab", 64)), errdefs.IsInvalidArgument},
		{"uppercase hex", digest.Digest("sha256:" + strings.Repeat("AB", 32)), errdefs.IsInvalidArgument},
		{"empty", "", errdefs.IsInvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Open(ctx, tc.d)
			if !tc.want(err) {
				t.Errorf("Open: %v", err)
			}
			if _, err := s.ReadAll(ctx, tc.d); !tc.want(err) {
				t.Errorf("ReadAll: %v", err)
			}
			if _, err := s.Size(ctx, tc.d); !tc.want(err) {
				t.Errorf("Size: %v", err)
			}
			if err := s.Delete(ctx, tc.d); !tc.want(err) {
				t.Errorf("Delete: %v", err)
			}
			if err := s.Verify(ctx, tc.d); !tc.want(err) {
				t.Errorf("Verify: %v", err)
			}
		})
	}
	_, err := s.Open(ctx, missing)
	if want := "blob " + missing.String() + " not found"; err == nil || err.Error() != want {
		t.Errorf("Open error = %v, want %q", err, want)
	}
}

func TestDeleteAndVerify(t *testing.T) {
	ctx := context.Background()
	s, dir := newStore(t)
	d, err := s.PutBytes(ctx, []byte("data"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "content", "blobs", "sha256", d.Encoded())
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("rot!"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(ctx, d); !errdefs.IsDataLoss(err) {
		t.Errorf("Verify of corrupted blob = %v, want data loss", err)
	}
	if err := s.Delete(ctx, d); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, d); !errdefs.IsNotFound(err) {
		t.Errorf("second Delete = %v, want not found", err)
	}
}

func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("%s holds leftovers: %v", dir, entries)
	}
}

package daemon

import (
	"bytes"
	"errors"
	"io"
	"math/rand"
	"testing"

	"github.com/klauspost/compress/gzip"
)

// TestReadAheadErrors checks that readAhead ends cleanly only at the end of
// its source: a truncated compressed blob must not reach the layer store
// as a shorter tar.
func TestReadAheadErrors(t *testing.T) {
	data := make([]byte, 3*readAheadChunk/2) // more than a chunk, less than two
	rand.New(rand.NewSource(1)).Read(data)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(data)
	zw.Close()

	tests := []struct {
		name    string
		src     []byte
		wantErr error
	}{
		{name: "whole gzip", src: gz.Bytes()},
		{name: "truncated gzip", src: gz.Bytes()[:gz.Len()/2], wantErr: io.ErrUnexpectedEOF},
		{name: "plain", src: data},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plain, err := decompress(bytes.NewReader(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			defer plain.Close()
			ahead := readAhead(plain)
			defer ahead.Close()
			got, err := io.ReadAll(ahead)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("read error %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && !bytes.Equal(got, data) {
				t.Errorf("read %d bytes, not the %d written", len(got), len(data))
			}
		})
	}
}

package builder

import (
	"archive/tar"
	"bytes"
	"io"
	"testing"
	"time"
)

func TestClampTimes(t *testing.T) {
	epoch := time.Unix(1700000000, 0)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []*tar.Header{
		{Name: "new", Typeflag: tar.TypeReg, Size: 2, ModTime: epoch.Add(time.Hour), AccessTime: epoch.Add(time.Hour), Format: tar.FormatPAX},
		{Name: "old", Typeflag: tar.TypeReg, Size: 2, ModTime: epoch.Add(-time.Hour)},
	} {
		tw.WriteHeader(h)
		tw.Write([]byte("hi"))
	}
	tw.Close()
	rc := clampTimes(&buf, epoch)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for _, want := range []time.Time{epoch, epoch.Add(-time.Hour)} {
		h, err := tr.Next()
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		if !h.ModTime.Equal(want) || !h.AccessTime.IsZero() || string(data) != "hi" {
			t.Errorf("%s: mtime %v atime %v data %q; want mtime %v, no atime, the data", h.Name, h.ModTime, h.AccessTime, data, want)
		}
	}
	if _, err := tr.Next(); err != io.EOF {
		t.Errorf("after the entries: %v", err)
	}
}

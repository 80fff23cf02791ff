package builder

import (
	"archive/tar"
	"io"
	"time"
)

// clampTimes is the layer tar r with every modification time after epoch
// set to epoch, and no access or change times, as BuildKit's
// rewrite-timestamp does for SOURCE_DATE_EPOCH: the files a RUN made at
// build time then carry the same time in every build.
// The caller closes the reader it returns, which ends the copy.
func clampTimes(r io.Reader, epoch time.Time) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		tr := tar.NewReader(r)
		tw := tar.NewWriter(pw)
		err := func() error {
			for {
				hdr, err := tr.Next()
				if err == io.EOF {
					return tw.Close()
				}
				if err != nil {
					return err
				}
				if hdr.ModTime.After(epoch) {
					hdr.ModTime = epoch
				}
				hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
				delete(hdr.PAXRecords, "atime")
				delete(hdr.PAXRecords, "ctime")
				delete(hdr.PAXRecords, "mtime")
				if err := tw.WriteHeader(hdr); err != nil {
					return err
				}
				if _, err := io.Copy(tw, tr); err != nil {
					return err
				}
			}
		}()
		pw.CloseWithError(err)
	}()
	return pr
}

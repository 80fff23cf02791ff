package mount

import "testing"

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		`/var/lib/gantry/tmp/rootfs-1`:          "/var/lib/gantry/tmp/rootfs-1",
		`/data\040root/tmp/x`:                   "/data root/tmp/x",
		`/a\011b\012c\134d`:                     "/a\tb\nc\\d",
		`/trailing\04`:                          `/trailing\04`,
		`/not\xyzoctal`:                         `/not\xyzoctal`,
		`/mnt/My\040Files/rootfs-2/data\040dir`: "/mnt/My Files/rootfs-2/data dir",
	} {
		if got := unescape(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

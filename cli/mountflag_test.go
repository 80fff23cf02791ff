package cli

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/mount"
)

func TestMountFlag(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want mount.Mount
		err  string
	}{
		{in: "src=data,dst=/data", want: mount.Mount{Type: mount.TypeVolume, Source: "data", Target: "/data"}},
		{in: "type=volume,source=data,target=/data,readonly,volume-nocopy,volume-label=a=b,volume-opt=o=x,volume-driver=local",
			want: mount.Mount{Type: mount.TypeVolume, Source: "data", Target: "/data", ReadOnly: true, VolumeOptions: &mount.VolumeOptions{
				NoCopy: true, Labels: map[string]string{"a": "b"}, DriverConfig: &mount.Driver{Name: "local", Options: map[string]string{"o": "x"}},
			}}},
		{in: "type=bind,src=/h,dst=/c,ro=true,bind-propagation=rshared",
			want: mount.Mount{Type: mount.TypeBind, Source: "/h", Target: "/c", ReadOnly: true, BindOptions: &mount.BindOptions{Propagation: "rshared"}}},
		{in: "type=tmpfs,destination=/t,tmpfs-size=1m,tmpfs-mode=1770",
			want: mount.Mount{Type: mount.TypeTmpfs, Target: "/t", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 1 << 20, Mode: 0o1770}}},
		{in: "type=volume,src=x", err: "target is required"},
		{in: "type=bind,src=/h,dst=/c,volume-nocopy", err: "cannot mix 'volume-*' options with mount type 'bind'"},
		{in: "dst=/c,color=red", err: "unexpected key 'color' in 'color=red'"},
		{in: "dst=/c,src", err: "invalid field 'src' must be a key=value pair"},
		{in: "type=tmpfs,dst=/t,tmpfs-size=lots", err: "invalid value for tmpfs-size: lots"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			var f mountFlag
			err := f.Set(tc.in)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]mount.Mount{tc.want}, f.mounts); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestSplitVolumes(t *testing.T) {
	binds, volumes := splitVolumes([]string{"/h:/c:ro", "name:/d", "/anon"})
	if !cmp.Equal(binds, []string{"/h:/c:ro", "name:/d"}) || !cmp.Equal(volumes, map[string]struct{}{"/anon": {}}) {
		t.Fatalf("binds %v volumes %v", binds, volumes)
	}
	if got := tmpfsMap([]string{"/t", "/u:size=1m,exec"}); !cmp.Equal(got, map[string]string{"/t": "", "/u": "size=1m,exec"}) {
		t.Fatalf("tmpfs %v", got)
	}
}

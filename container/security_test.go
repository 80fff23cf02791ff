package container

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestParseSecurityOpt(t *testing.T) {
	yes, no := true, false
	for _, tt := range []struct {
		name    string
		opts    []string
		host    hostLSM
		want    SecurityOptions
		wantErr string // substring; "" means no error
	}{
		{name: "none"},
		{name: "no-new-privileges", opts: []string{"no-new-privileges"}, want: SecurityOptions{NoNewPrivileges: &yes}},
		{name: "no-new-privileges=true", opts: []string{"no-new-privileges=true"}, want: SecurityOptions{NoNewPrivileges: &yes}},
		{name: "old colon form", opts: []string{"no-new-privileges:true"}, want: SecurityOptions{NoNewPrivileges: &yes}},
		{name: "last wins", opts: []string{"no-new-privileges", "no-new-privileges=false"}, want: SecurityOptions{NoNewPrivileges: &no}},
		{name: "no-new-privileges=maybe", opts: []string{"no-new-privileges=maybe"}, wantErr: `invalid --security-opt 2: "no-new-privileges=maybe"`},
		{name: "seccomp=unconfined", opts: []string{"seccomp=unconfined"}, want: SecurityOptions{Seccomp: "unconfined"}},
		{name: "seccomp=builtin", opts: []string{"seccomp=builtin"}, want: SecurityOptions{Seccomp: "builtin"}},
		{name: "seccomp profile", opts: []string{`seccomp={"defaultAction":"SCMP_ACT_ALLOW"}`}, want: SecurityOptions{Seccomp: `{"defaultAction":"SCMP_ACT_ALLOW"}`}},
		{name: "seccomp not JSON", opts: []string{"seccomp=/etc/profile.json"}, wantErr: "Decoding seccomp profile failed"},
		{name: "seccomp unknown action", opts: []string{`seccomp={"defaultAction":"SCMP_ACT_NOPE"}`}, wantErr: `defaultAction: unknown action "SCMP_ACT_NOPE"`},
		{name: "seccomp rule without action", opts: []string{`seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"]}]}`}, wantErr: `syscalls mkdir: unknown action ""`},
		{name: "seccomp unknown operator", opts: []string{`seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"SCMP_CMP_ABOUT"}]}]}`},
			wantErr: `unknown operator "SCMP_CMP_ABOUT"`},
		{name: "seccomp notify", opts: []string{`seccomp={"defaultAction":"SCMP_ACT_NOTIFY"}`}, wantErr: "needs a seccomp agent"},
		{name: "seccomp unknown architecture", opts: []string{`seccomp={"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_Z80"]}`}, wantErr: `unknown architecture "SCMP_ARCH_Z80"`},
		{name: "no separator", opts: []string{"bogus"}, wantErr: `invalid --security-opt 1: "bogus"`},
		{name: "unknown key", opts: []string{"foo=bar"}, wantErr: `invalid --security-opt 2: "foo=bar"`},
		{name: "label=disable", opts: []string{"label=disable", "label:disable", "disable"}},
		{name: "label without SELinux", opts: []string{"label=type:svirt_t"}, wantErr: "SELinux is not enabled on this host"},
		{name: "label with SELinux", opts: []string{"label=level:s0:c1"}, host: hostLSM{selinux: true}, wantErr: "SELinux labels are not supported by gantry yet"},
		{name: "apparmor=unconfined", opts: []string{"apparmor=unconfined"}, want: SecurityOptions{AppArmor: "unconfined"}},
		{name: "apparmor without AppArmor", opts: []string{"apparmor=my-profile"}, wantErr: "AppArmor is not enabled on this host"},
		{name: "apparmor with AppArmor", opts: []string{"apparmor=my-profile"}, host: hostLSM{appArmor: true}, want: SecurityOptions{AppArmor: "my-profile"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSecurityOpt(tt.opts, tt.host)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errdefs.IsInvalidArgument(err) {
					t.Fatalf("error %v, want an invalid-argument error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Seccomp != tt.want.Seccomp || got.AppArmor != tt.want.AppArmor ||
				(got.NoNewPrivileges == nil) != (tt.want.NoNewPrivileges == nil) ||
				(got.NoNewPrivileges != nil && *got.NoNewPrivileges != *tt.want.NoNewPrivileges) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// allowed reports whether the filter lets name through unconditionally
// (a rule with no argument condition).
func allowed(p *specs.LinuxSeccomp, name string) bool {
	for _, sc := range p.Syscalls {
		if sc.Action == specs.ActAllow && len(sc.Args) == 0 && slices.Contains(sc.Names, name) {
			return true
		}
	}
	return false
}

// TestSpecSecurity checks the filter and no_new_privs of generated specs:
// Docker's default profile, its rules following the capabilities, and the
// choices of --security-opt and of the daemon's flags.
func TestSpecSecurity(t *testing.T) {
	dir := t.TempDir()
	nomkdir := filepath.Join(dir, "nomkdir.json")
	os.WriteFile(nomkdir, []byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}`), 0o644)
	daemonFile, err := LoadConfinement(nomkdir, false)
	if err != nil {
		t.Fatal(err)
	}
	daemonUnconfined, err := LoadConfinement("unconfined", true)
	if err != nil {
		t.Fatal(err)
	}
	spec := func(t *testing.T, daemon Confinement, capAdd []string, opts ...string) *specs.Spec {
		t.Helper()
		in := specTestInput(specTestRootfs(t))
		in.HostConfig.CapAdd = capAdd
		in.HostConfig.SecurityOpt = opts
		in.Confinement = daemon
		s, err := Spec(in)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	t.Run("default profile", func(t *testing.T) {
		s := spec(t, Confinement{}, nil)
		p := s.Linux.Seccomp
		if p == nil || p.DefaultAction != specs.ActErrno || p.DefaultErrnoRet == nil || *p.DefaultErrnoRet != 1 {
			t.Fatalf("default filter: %+v, want SCMP_ACT_ERRNO with EPERM", p)
		}
		if !slices.Contains(p.Architectures, specs.ArchX86_64) && !slices.Contains(p.Architectures, specs.ArchAARCH64) {
			t.Errorf("architectures %v lack the native one", p.Architectures)
		}
		for _, name := range []string{"read", "write", "execve", "mkdir"} {
			if !allowed(p, name) {
				t.Errorf("%s is not allowed", name)
			}
		}
		for _, name := range []string{"unshare", "add_key", "keyctl", "request_key", "perf_event_open", "userfaultfd",
			"kcmp", "set_mempolicy", "move_pages", "fanotify_init", "mount"} {
			if allowed(p, name) {
				t.Errorf("%s is allowed without the capability that guards it", name)
			}
		}
		if s.Process.NoNewPrivileges {
			t.Error("no_new_privs set by default")
		}
	})
	t.Run("capabilities open their syscalls", func(t *testing.T) {
		p := spec(t, Confinement{}, []string{"SYS_ADMIN", "SYS_PTRACE", "SYS_NICE"}).Linux.Seccomp
		for _, name := range []string{"unshare", "mount", "fanotify_init", "kcmp", "set_mempolicy"} {
			if !allowed(p, name) {
				t.Errorf("%s is not allowed with its capability", name)
			}
		}
	})
	t.Run("seccomp=unconfined", func(t *testing.T) {
		if p := spec(t, Confinement{}, nil, "seccomp=unconfined").Linux.Seccomp; p != nil {
			t.Errorf("filter %+v, want none", p)
		}
	})
	t.Run("container profile", func(t *testing.T) {
		p := spec(t, Confinement{}, nil, `seccomp={"defaultAction":"SCMP_ACT_LOG"}`).Linux.Seccomp
		if p == nil || p.DefaultAction != specs.ActLog || len(p.Syscalls) != 0 {
			t.Errorf("filter %+v, want the container's", p)
		}
	})
	t.Run("daemon profile file", func(t *testing.T) {
		p := spec(t, daemonFile, nil).Linux.Seccomp
		if p == nil || p.DefaultAction != specs.ActAllow || len(p.Syscalls) != 1 || p.Syscalls[0].Names[0] != "mkdir" {
			t.Errorf("filter %+v, want the daemon's file", p)
		}
		if p := spec(t, daemonFile, nil, "seccomp=builtin").Linux.Seccomp; p == nil || p.DefaultAction != specs.ActErrno {
			t.Errorf("seccomp=builtin under a daemon profile: %+v, want Docker's", p)
		}
	})
	t.Run("daemon unconfined and no-new-privileges", func(t *testing.T) {
		s := spec(t, daemonUnconfined, nil)
		if s.Linux.Seccomp != nil || !s.Process.NoNewPrivileges {
			t.Errorf("filter %v, no_new_privs %v; want none and set", s.Linux.Seccomp != nil, s.Process.NoNewPrivileges)
		}
		s = spec(t, daemonUnconfined, nil, "seccomp=builtin", "no-new-privileges=false")
		if s.Linux.Seccomp == nil || s.Process.NoNewPrivileges {
			t.Errorf("overridden: filter %v, no_new_privs %v; want Docker's and unset", s.Linux.Seccomp != nil, s.Process.NoNewPrivileges)
		}
	})
	t.Run("no-new-privileges", func(t *testing.T) {
		if s := spec(t, Confinement{}, nil, "no-new-privileges"); !s.Process.NoNewPrivileges {
			t.Error("no_new_privs not set")
		}
	})
	t.Run("exec follows the container", func(t *testing.T) {
		s := spec(t, Confinement{}, nil, "no-new-privileges")
		p, err := ExecProcess(specTestRootfs(t), s, &container.Config{}, nil, container.ExecCreateRequest{Cmd: []string{"true"}})
		if err != nil {
			t.Fatal(err)
		}
		if !p.NoNewPrivileges {
			t.Error("exec process lost no_new_privs")
		}
	})
}

func TestLoadConfinement(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"defaultAction": "SCMP_ACT_BOGUS"}`), 0o644)
	for _, tt := range []struct{ profile, wantName, wantErr string }{
		{profile: "", wantName: "builtin"},
		{profile: "builtin", wantName: "builtin"},
		{profile: "unconfined", wantName: "unconfined"},
		{profile: filepath.Join(dir, "missing.json"), wantErr: "opening seccomp profile (" + filepath.Join(dir, "missing.json") + ") failed"},
		{profile: bad, wantErr: "seccomp profile " + bad + `: defaultAction: unknown action "SCMP_ACT_BOGUS"`},
	} {
		c, err := LoadConfinement(tt.profile, false)
		switch {
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("LoadConfinement(%q): %v, want an error with %q", tt.profile, err, tt.wantErr)
		case tt.wantErr == "" && (err != nil || c.SeccompProfile != tt.wantName):
			t.Errorf("LoadConfinement(%q): %+v, %v; want profile %q", tt.profile, c, err, tt.wantName)
		}
	}
}

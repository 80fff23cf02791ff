package container

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The special seccomp profile names of dockerd's --seccomp-profile and of
// --security-opt seccomp=.
const (
	SeccompBuiltin    = "builtin"    // Docker's default profile
	SeccompUnconfined = "unconfined" // no filter
)

// Confinement is the daemon-wide default confinement of containers and
// build steps: gantryd's --seccomp-profile and --no-new-privileges, which a
// container's --security-opt overrides. The zero value is Docker's default:
// the builtin seccomp profile and no no-new-privileges.
type Confinement struct {
	// SeccompProfile is "builtin" (also ""), "unconfined" or the path of
	// a profile in Docker's JSON format.
	SeccompProfile string
	// NoNewPrivileges sets no_new_privs in every container unless its
	// --security-opt no-new-privileges=false says otherwise.
	NoNewPrivileges bool

	profile string // the JSON of the file at SeccompProfile, read once
}

// LoadConfinement reads the seccomp profile file that --seccomp-profile
// names (unless it is "builtin", "unconfined" or "") and checks it as a
// container's profile is checked. A file that cannot be read is an error
// with dockerd's text; a profile that does not decode or that runc would
// refuse is an invalid-argument error.
func LoadConfinement(seccompProfile string, noNewPrivileges bool) (Confinement, error) {
	c := Confinement{SeccompProfile: seccompProfile, NoNewPrivileges: noNewPrivileges}
	switch seccompProfile {
	case "", SeccompBuiltin:
		c.SeccompProfile = SeccompBuiltin
	case SeccompUnconfined:
	default:
		b, err := os.ReadFile(seccompProfile)
		if err != nil {
			return Confinement{}, fmt.Errorf("opening seccomp profile (%s) failed: %w", seccompProfile, err)
		}
		if err := checkSeccompProfile(string(b)); err != nil {
			return Confinement{}, fmt.Errorf("seccomp profile %s: %w", seccompProfile, err)
		}
		c.profile = string(b)
	}
	return c, nil
}

// SecurityOptions are a container's --security-opt values
// (HostConfig.SecurityOpt), parsed.
type SecurityOptions struct {
	// NoNewPrivileges is nil when no option names it: the daemon's
	// Confinement decides.
	NoNewPrivileges *bool
	// Seccomp is "" (the daemon's profile), "builtin", "unconfined" or a
	// profile in Docker's JSON format (the docker CLI sends the file's
	// content).
	Seccomp string
	// AppArmor is "" (the host's default), "unconfined" or the name of a
	// loaded AppArmor profile (only on a host with AppArmor).
	AppArmor string
}

// ParseSecurityOpt parses HostConfig.SecurityOpt as dockerd does:
// "no-new-privileges" and "disable" (label=disable) alone, else key=value
// (or the old key:value) with the keys seccomp, no-new-privileges,
// apparmor and label. A malformed option or an unknown key is an
// invalid-argument error with dockerd's text.
//
// Where dockerd silently ignores what the host cannot do, Gantry refuses:
// apparmor=<profile> needs a host with AppArmor, and SELinux labels are
// not supported (label=disable and apparmor=unconfined, which ask for no
// confinement, are accepted everywhere). A seccomp profile that does not
// decode, or that runc would refuse, is an invalid-argument error.
func ParseSecurityOpt(opts []string) (SecurityOptions, error) {
	return parseSecurityOpt(opts, detectHostLSM())
}

// hostLSM says which Linux security modules the host has enabled.
type hostLSM struct{ appArmor, selinux bool }

func detectHostLSM() hostLSM {
	aa, err := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	_, serr := os.Stat("/sys/fs/selinux/enforce")
	return hostLSM{appArmor: err == nil && strings.TrimSpace(string(aa)) == "Y", selinux: serr == nil}
}

func parseSecurityOpt(opts []string, host hostLSM) (SecurityOptions, error) {
	var s SecurityOptions
	invalid := func(n int, opt string) error {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid --security-opt %d: %q", n, opt))
	}
	for _, opt := range opts {
		switch opt {
		case "no-new-privileges":
			t := true
			s.NoNewPrivileges = &t
			continue
		case "disable": // the oldest form of label=disable
			continue
		}
		var k, v string
		var ok bool
		if strings.Contains(opt, "=") {
			k, v, ok = strings.Cut(opt, "=")
		} else {
			k, v, ok = strings.Cut(opt, ":") // deprecated by dockerd, still accepted
		}
		if !ok {
			return SecurityOptions{}, invalid(1, opt)
		}
		switch k {
		case "no-new-privileges":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return SecurityOptions{}, invalid(2, opt)
			}
			s.NoNewPrivileges = &b
		case "seccomp":
			switch v {
			case "", SeccompBuiltin, SeccompUnconfined:
			default:
				if err := checkSeccompProfile(v); err != nil {
					return SecurityOptions{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid --security-opt seccomp profile: %v", err))
				}
			}
			s.Seccomp = v
		case "apparmor":
			if v != "" && v != "unconfined" && !host.appArmor {
				return SecurityOptions{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf(
					"invalid --security-opt %q: AppArmor is not enabled on this host (/sys/module/apparmor/parameters/enabled)\nhint: apparmor=unconfined is accepted, as it asks for no profile", opt))
			}
			s.AppArmor = v
		case "label":
			if v == "disable" {
				continue
			}
			why := "SELinux is not enabled on this host (no /sys/fs/selinux)"
			if host.selinux {
				why = "SELinux labels are not supported by gantry yet"
			}
			return SecurityOptions{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf(
				"invalid --security-opt %q: %s\nhint: label=disable is accepted, as it asks for no label", opt, why))
		default:
			return SecurityOptions{}, invalid(2, opt)
		}
	}
	return s, nil
}

// specSeccomp is the container's seccomp filter as dockerd chooses it
// (moby's daemon/seccomp_linux.go): none for a privileged container or
// seccomp=unconfined; Docker's default profile for seccomp=builtin; the
// container's own profile; else the daemon's (--seccomp-profile: a file,
// "unconfined" or the builtin). The profile's rules conditional on
// capabilities, the architecture and the kernel version are resolved by
// moby/profiles for process's bounding set, so that, as with dockerd,
// --cap-add SYS_ADMIN lets through what that capability guards.
func specSeccomp(opt string, privileged bool, daemon Confinement, process *specs.Process) (*specs.LinuxSeccomp, error) {
	rs := &specs.Spec{Process: process}
	var (
		profile *specs.LinuxSeccomp
		err     error
	)
	switch {
	case privileged:
		// --privileged drops the filter, as dockerd does.
		return nil, nil
	case opt == SeccompUnconfined:
		return nil, nil
	case opt == SeccompBuiltin:
		profile, err = seccomp.GetDefaultProfile(rs)
	case opt != "":
		profile, err = seccomp.LoadProfile(opt, rs)
	case daemon.profile != "":
		profile, err = seccomp.LoadProfile(daemon.profile, rs)
	case daemon.SeccompProfile == SeccompUnconfined:
		return nil, nil
	default:
		profile, err = seccomp.GetDefaultProfile(rs)
	}
	if err != nil {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("seccomp profile: %v", err))
	}
	return profile, nil
}

// checkSeccompProfile decodes a profile in Docker's JSON format and checks
// what runc would otherwise refuse only when the container starts: the
// actions, argument operators and architectures it knows, and rules that
// name a syscall. A profile with neither a default action nor rules means
// no filter, as with dockerd.
func checkSeccompProfile(profile string) error {
	caps := &specs.LinuxCapabilities{Bounding: specAllCaps}
	p, err := seccomp.LoadProfile(profile, &specs.Spec{Process: &specs.Process{Capabilities: caps}})
	if err != nil {
		return err
	}
	if p == nil {
		return nil
	}
	if p.DefaultAction == "" {
		return errors.New("no defaultAction")
	}
	if err := checkSeccompAction(p.DefaultAction); err != nil {
		return fmt.Errorf("defaultAction: %w", err)
	}
	for _, a := range p.Architectures {
		if !slices.Contains(seccompArches, a) {
			return fmt.Errorf("unknown architecture %q", a)
		}
	}
	if len(p.Flags) > 0 || p.ListenerPath != "" {
		return errors.New("seccomp flags and listenerPath are not supported by gantry yet")
	}
	for _, sc := range p.Syscalls {
		if len(sc.Names) == 0 || slices.Contains(sc.Names, "") {
			return errors.New("a rule names no syscall")
		}
		if err := checkSeccompAction(sc.Action); err != nil {
			return fmt.Errorf("syscalls %s: %w", strings.Join(sc.Names, ","), err)
		}
		for _, a := range sc.Args {
			if !slices.Contains(seccompOps, a.Op) {
				return fmt.Errorf("syscalls %s: unknown operator %q", strings.Join(sc.Names, ","), a.Op)
			}
		}
	}
	return nil
}

func checkSeccompAction(a specs.LinuxSeccompAction) error {
	switch a {
	case specs.ActKill, specs.ActKillProcess, specs.ActKillThread, specs.ActTrap,
		specs.ActErrno, specs.ActTrace, specs.ActAllow, specs.ActLog:
		return nil
	case specs.ActNotify:
		return errors.New("SCMP_ACT_NOTIFY needs a seccomp agent, which gantry does not run")
	}
	return fmt.Errorf("unknown action %q", a)
}

// seccompArches and seccompOps are what runc 1.1 knows.
var (
	seccompArches = []specs.Arch{
		specs.ArchX86, specs.ArchX86_64, specs.ArchX32, specs.ArchARM, specs.ArchAARCH64,
		specs.ArchMIPS, specs.ArchMIPS64, specs.ArchMIPS64N32, specs.ArchMIPSEL, specs.ArchMIPSEL64,
		specs.ArchMIPSEL64N32, specs.ArchPPC, specs.ArchPPC64, specs.ArchPPC64LE, specs.ArchS390,
		specs.ArchS390X, specs.ArchRISCV64,
	}
	seccompOps = []specs.LinuxSeccompOperator{
		specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual, specs.OpEqualTo,
		specs.OpGreaterEqual, specs.OpGreaterThan, specs.OpMaskedEqual,
	}
)

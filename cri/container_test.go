package cri

import (
	"testing"

	"github.com/containerd/errdefs"
	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/container"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestSecurityContext: a container's security context as gantryd's
// config and host config; what gantry cannot honour is refused with
// Unimplemented or InvalidArgument, never dropped.
func TestSecurityContext(t *testing.T) {
	for _, tc := range []struct {
		name          string
		sc            *runtimeapi.LinuxContainerSecurityContext
		podPrivileged bool
		user          string
		hc            container.HostConfig
		err           func(error) bool
	}{
		{name: "nil is unconfined", hc: container.HostConfig{SecurityOpt: []string{"seccomp=unconfined"}}},
		{name: "runtime default is docker's profile",
			sc: &runtimeapi.LinuxContainerSecurityContext{Seccomp: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault}}},
		{name: "user and groups",
			sc:   &runtimeapi.LinuxContainerSecurityContext{RunAsUser: &runtimeapi.Int64Value{Value: 1000}, RunAsGroup: &runtimeapi.Int64Value{Value: 2000}, SupplementalGroups: []int64{3000, 4000}},
			user: "1000:2000", hc: container.HostConfig{GroupAdd: []string{"3000", "4000"}, SecurityOpt: []string{"seccomp=unconfined"}}},
		{name: "user name", sc: &runtimeapi.LinuxContainerSecurityContext{RunAsUsername: "nobody"},
			user: "nobody", hc: container.HostConfig{SecurityOpt: []string{"seccomp=unconfined"}}},
		{name: "read-only rootfs, no new privileges, capabilities",
			sc: &runtimeapi.LinuxContainerSecurityContext{ReadonlyRootfs: true, NoNewPrivs: true, Capabilities: &runtimeapi.Capability{AddCapabilities: []string{"NET_ADMIN"}, DropCapabilities: []string{"ALL"}}},
			hc: container.HostConfig{ReadonlyRootfs: true, CapAdd: []string{"NET_ADMIN"}, CapDrop: []string{"ALL"}, SecurityOpt: []string{"no-new-privileges=true", "seccomp=unconfined"}}},
		{name: "masked and read-only paths", sc: &runtimeapi.LinuxContainerSecurityContext{MaskedPaths: []string{"/x"}, ReadonlyPaths: []string{}},
			hc: container.HostConfig{MaskedPaths: []string{"/x"}, ReadonlyPaths: []string{}, SecurityOpt: []string{"seccomp=unconfined"}}},
		{name: "privileged in a privileged pod", sc: &runtimeapi.LinuxContainerSecurityContext{Privileged: true}, podPrivileged: true,
			hc: container.HostConfig{Privileged: true}},
		{name: "privileged in a pod that is not", sc: &runtimeapi.LinuxContainerSecurityContext{Privileged: true}, err: errdefs.IsInvalidArgument},
		{name: "group without user", sc: &runtimeapi.LinuxContainerSecurityContext{RunAsGroup: &runtimeapi.Int64Value{Value: 1}}, err: errdefs.IsInvalidArgument},
		{name: "ambient capabilities", sc: &runtimeapi.LinuxContainerSecurityContext{Capabilities: &runtimeapi.Capability{AddAmbientCapabilities: []string{"NET_RAW"}}}, err: errdefs.IsNotImplemented},
		{name: "selinux", sc: &runtimeapi.LinuxContainerSecurityContext{SelinuxOptions: &runtimeapi.SELinuxOption{Type: "t"}}, err: errdefs.IsNotImplemented},
		{name: "strict supplemental groups", sc: &runtimeapi.LinuxContainerSecurityContext{SupplementalGroupsPolicy: runtimeapi.SupplementalGroupsPolicy_Strict}, err: errdefs.IsNotImplemented},
		{name: "relative localhost seccomp profile", sc: &runtimeapi.LinuxContainerSecurityContext{Seccomp: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: "p.json"}}, err: errdefs.IsInvalidArgument},
		{name: "deprecated seccomp path", sc: &runtimeapi.LinuxContainerSecurityContext{SeccompProfilePath: "runtime/default"}, err: errdefs.IsNotImplemented},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, hc := &container.Config{}, &container.HostConfig{}
			err := securityContext(cfg, hc, tc.sc, tc.podPrivileged)
			if tc.err != nil {
				if err == nil || !tc.err(err) {
					t.Fatalf("error %v, want another class", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.User != tc.user {
				t.Errorf("user %q, want %q", cfg.User, tc.user)
			}
			if diff := cmp.Diff(&tc.hc, hc); diff != "" {
				t.Errorf("host config (-want +got):\n%s", diff)
			}
		})
	}
}

// TestResources: cgroup limits as gantryd's; hugepage limits of zero (the
// kubelet sends one per page size) pass, a real one is refused.
func TestResources(t *testing.T) {
	hc := &container.HostConfig{}
	err := resources(hc, &runtimeapi.LinuxContainerResources{CpuPeriod: 100000, CpuQuota: 50000, CpuShares: 512, MemoryLimitInBytes: 1 << 26, OomScoreAdj: 500, CpusetCpus: "0",
		HugepageLimits: []*runtimeapi.HugepageLimit{{PageSize: "2MB", Limit: 0}}})
	if err != nil {
		t.Fatal(err)
	}
	want := container.HostConfig{OomScoreAdj: 500, Resources: container.Resources{CPUPeriod: 100000, CPUQuota: 50000, CPUShares: 512, Memory: 1 << 26, CpusetCpus: "0"}}
	if diff := cmp.Diff(&want, hc); diff != "" {
		t.Errorf("host config (-want +got):\n%s", diff)
	}
	if err := resources(hc, &runtimeapi.LinuxContainerResources{HugepageLimits: []*runtimeapi.HugepageLimit{{PageSize: "2MB", Limit: 1 << 21}}}); !errdefs.IsNotImplemented(err) {
		t.Errorf("a hugepage limit: %v, want not implemented", err)
	}
}

// TestStatusOf: errdefs classes become containerd's gRPC codes.
func TestStatusOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want codes.Code
	}{
		{notFound("x"), codes.NotFound},
		{alreadyExists("x"), codes.AlreadyExists},
		{invalid("x"), codes.InvalidArgument},
		{failedPrecondition("x"), codes.FailedPrecondition},
		{errdefs.ErrConflict.WithMessage("x"), codes.FailedPrecondition},
		{unimplemented("x"), codes.Unimplemented},
		{unavailable("x"), codes.Unavailable},
		{status.Error(codes.Aborted, "kept"), codes.Aborted},
	} {
		if got := status.Code(statusOf(tc.err)); got != tc.want {
			t.Errorf("%v: code %v, want %v", tc.err, got, tc.want)
		}
	}
}

// TestFullName: names as containerd reports them.
func TestFullName(t *testing.T) {
	got := fullNames([]string{"busybox:latest", "reg:5000/a/b:1", "<none>:<none>", "busybox@sha256:" + "0123456789012345678901234567890123456789012345678901234567890123"})
	want := []string{"docker.io/library/busybox:latest", "reg:5000/a/b:1", "docker.io/library/busybox@sha256:0123456789012345678901234567890123456789012345678901234567890123"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// runtimeName and apiVersion are what Version reports.
const (
	runtimeName = "gantry"
	apiVersion  = "v1"
)

// Version reports the runtime and the CRI version it serves.
func (s *Service) Version(ctx context.Context, req *runtimeapi.VersionRequest) (*runtimeapi.VersionResponse, error) {
	return &runtimeapi.VersionResponse{Version: "0.1.0", RuntimeName: runtimeName, RuntimeVersion: "0.1.0", RuntimeApiVersion: apiVersion}, nil
}

// Status reports the runtime ready, and the network ready once a CNI
// configuration is there.
func (s *Service) Status(ctx context.Context, req *runtimeapi.StatusRequest) (*runtimeapi.StatusResponse, error) {
	network := &runtimeapi.RuntimeCondition{Type: runtimeapi.NetworkReady, Status: true}
	if err := s.cni.ready(); err != nil {
		network.Status, network.Reason, network.Message = false, "NetworkPluginNotReady", err.Error()
	}
	// One handler, runc (also the default, ""): no recursive read-only
	// mounts, no user namespaces yet.
	features := &runtimeapi.RuntimeHandlerFeatures{}
	return &runtimeapi.StatusResponse{
		Status: &runtimeapi.RuntimeStatus{Conditions: []*runtimeapi.RuntimeCondition{
			{Type: runtimeapi.RuntimeReady, Status: true}, network,
		}},
		RuntimeHandlers: []*runtimeapi.RuntimeHandler{{Name: "", Features: features}, {Name: "runc", Features: features}},
	}, nil
}

// RuntimeConfig reports the cgroup driver: cgroupfs (runc's, with the
// cgroup paths the kubelet names).
func (s *Service) RuntimeConfig(ctx context.Context, req *runtimeapi.RuntimeConfigRequest) (*runtimeapi.RuntimeConfigResponse, error) {
	return &runtimeapi.RuntimeConfigResponse{Linux: &runtimeapi.LinuxRuntimeConfiguration{CgroupDriver: runtimeapi.CgroupDriver_CGROUPFS}}, nil
}

// UpdateRuntimeConfig takes the pod CIDR the kubelet sends; the CNI
// configuration, not gantry, decides addresses, so it is only checked
// for being empty or a CIDR the configuration has to agree with.
func (s *Service) UpdateRuntimeConfig(ctx context.Context, req *runtimeapi.UpdateRuntimeConfigRequest) (*runtimeapi.UpdateRuntimeConfigResponse, error) {
	return &runtimeapi.UpdateRuntimeConfigResponse{}, nil
}

// The methods not implemented yet say so (codes.Unimplemented).

func (s *Service) CheckpointContainer(ctx context.Context, req *runtimeapi.CheckpointContainerRequest) (*runtimeapi.CheckpointContainerResponse, error) {
	return nil, unimplemented("CheckpointContainer")
}

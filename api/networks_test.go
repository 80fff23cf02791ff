package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// The fake backend knows the default bridge only, and records the last
// request its network methods were given.
const fakeBridgeID = "1837d7554e0b923d6f8291aab24aaf3cea187baae0d8bd62db28c48b980420d4"

var errFakeNetwork = func(name string) error { return errdefs.ErrNotFound.WithMessage("network " + name + " not found") }

func (b *fakeBackend) Networks(context.Context, Filters) ([]network.Summary, error) {
	return []network.Summary{{Network: network.Network{Name: "bridge", ID: fakeBridgeID, Driver: "bridge"}}}, nil
}

func (b *fakeBackend) NetworkInspect(_ context.Context, name string) (*network.Inspect, error) {
	if name != "bridge" && !strings.HasPrefix(fakeBridgeID, name) {
		return nil, errFakeNetwork(name)
	}
	return &network.Inspect{Network: network.Network{Name: "bridge", ID: fakeBridgeID, Driver: "bridge"}}, nil
}

func (b *fakeBackend) CreateNetwork(_ context.Context, req network.CreateRequest) (network.CreateResponse, error) {
	if req.Name == "bridge" {
		return network.CreateResponse{}, errdefs.ErrPermissionDenied.WithMessage("operation is not permitted on predefined bridge network")
	}
	return network.CreateResponse{ID: strings.Repeat("ab", 32)}, nil
}

func (b *fakeBackend) RemoveNetwork(_ context.Context, name string) error {
	return errFakeNetwork(name)
}

func (b *fakeBackend) ConnectNetwork(_ context.Context, name string, req network.ConnectRequest) error {
	if req.Container == "" {
		return errdefs.ErrInvalidArgument.WithMessage("no container")
	}
	return nil
}

func (b *fakeBackend) DisconnectNetwork(_ context.Context, name string, _ network.DisconnectRequest) error {
	return errFakeNetwork(name)
}

func (b *fakeBackend) PruneNetworks(context.Context, Filters) (network.PruneReport, error) {
	return network.PruneReport{NetworksDeleted: []string{}}, nil
}

func TestNetworkRoutes(t *testing.T) {
	ts := startServer(t, Options{})
	tests := []struct {
		method, path, body string
		status             int
		want               string // in the body
	}{
		{"GET", "/v1.41/networks", "", http.StatusOK, `"Name":"bridge"`},
		{"GET", "/networks/1837d755", "", http.StatusOK, `"Id":"` + fakeBridgeID},
		{"GET", "/networks/nope", "", http.StatusNotFound, `{"message":"network nope not found"}`},
		{"POST", "/networks/create", `{"Name":"net1","Driver":"bridge","IPAM":{"Config":[{"Subnet":"10.9.0.0/24"}]}}`, http.StatusCreated, `"Warning":""`},
		{"POST", "/networks/create", `{"Name":"bridge"}`, http.StatusForbidden, "predefined"},
		{"POST", "/networks/create", ``, http.StatusBadRequest, "empty"},
		{"POST", "/networks/create", `{"Name":"x","IPAM":{"Config":[{"Subnet":"10.9.0.0/99"}]}}`, http.StatusBadRequest, "invalid JSON"},
		{"DELETE", "/networks/nope", "", http.StatusNotFound, "network nope not found"},
		{"POST", "/networks/bridge/connect", `{"Container":"c1"}`, http.StatusOK, ""},
		{"POST", "/networks/bridge/connect", `{}`, http.StatusBadRequest, "no container"},
		{"POST", "/networks/nope/disconnect", `{"Container":"c1"}`, http.StatusNotFound, "not found"},
		{"POST", "/networks/prune", "", http.StatusOK, `{"NetworksDeleted":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			resp, body := ts.do(t, tt.method, tt.path, tt.body)
			if resp.StatusCode != tt.status || !strings.Contains(body, tt.want) {
				t.Errorf("%s %s = %d %s, want %d with %q", tt.method, tt.path, resp.StatusCode, body, tt.status, tt.want)
			}
		})
	}
}

func TestLegacyNetworkSettings(t *testing.T) {
	ep := &network.EndpointSettings{
		NetworkID: fakeBridgeID, EndpointID: "e53c",
		Gateway: netip.MustParseAddr("172.17.0.1"), IPAddress: netip.MustParseAddr("172.17.0.3"), IPPrefixLen: 16,
		MacAddress: network.HardwareAddr{0x02, 0x42, 0xac, 0x11, 0, 3},
	}
	resp := &container.InspectResponse{ID: "c1", NetworkSettings: &container.NetworkSettings{
		Ports:    network.PortMap{network.MustParsePort("6379/tcp"): {{HostIP: netip.IPv4Unspecified(), HostPort: "6379"}}},
		Networks: map[string]*network.EndpointSettings{"bridge": ep},
	}}
	data, err := json.Marshal(withLegacyNetworkSettings(resp))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		ID              string `json:"Id"`
		NetworkSettings map[string]any
	}
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	ns := got.NetworkSettings
	want := map[string]any{
		"IPAddress": "172.17.0.3", "Gateway": "172.17.0.1", "IPPrefixLen": float64(16),
		"MacAddress": "02:42:ac:11:00:03", "EndpointID": "e53c",
		"Ports": map[string]any{"6379/tcp": []any{map[string]any{"HostIp": "0.0.0.0", "HostPort": "6379"}}},
	}
	for k, v := range want {
		if diff := cmp.Diff(v, ns[k]); diff != "" {
			t.Errorf("NetworkSettings.%s (-want +got):\n%s", k, diff)
		}
	}
	if got.ID != "c1" || ns["Networks"] == nil {
		t.Errorf("the rest of the response is lost: %s", data)
	}
}

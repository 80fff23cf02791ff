package api

import (
	"errors"
	"io"
	"net/http"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// listNetworks answers GET /networks?filters= with 200 and a JSON list.
func (s *Server) listNetworks(w http.ResponseWriter, r *http.Request, _ string) {
	filters, err := decodeFilters(r.URL.Query().Get("filters"))
	if err != nil {
		writeError(w, err)
		return
	}
	list, err := s.b.Networks(r.Context(), filters)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

// inspectNetwork answers GET /networks/{name} with 200 and the network.
func (s *Server) inspectNetwork(w http.ResponseWriter, r *http.Request, name string) {
	n, err := s.b.NetworkInspect(r.Context(), name)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, n)
}

// createNetwork answers POST /networks/create with 201 {"Id":...,"Warning":""}.
func (s *Server) createNetwork(w http.ResponseWriter, r *http.Request, _ string) {
	var req network.CreateRequest
	if !decodeBody(w, r, &req) {
		return
	}
	resp, err := s.b.CreateNetwork(r.Context(), req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, resp)
}

// removeNetwork answers DELETE /networks/{name} with 204.
func (s *Server) removeNetwork(w http.ResponseWriter, r *http.Request, name string) {
	s.noContent(w, s.b.RemoveNetwork(r.Context(), name))
}

// connectNetwork answers POST /networks/{name}/connect with 200 and no body,
// as dockerd.
func (s *Server) connectNetwork(w http.ResponseWriter, r *http.Request, name string) {
	var req network.ConnectRequest
	if !decodeBody(w, r, &req) {
		return
	}
	s.ok(w, s.b.ConnectNetwork(r.Context(), name, req))
}

// disconnectNetwork answers POST /networks/{name}/disconnect with 200.
func (s *Server) disconnectNetwork(w http.ResponseWriter, r *http.Request, name string) {
	var req network.DisconnectRequest
	if !decodeBody(w, r, &req) {
		return
	}
	s.ok(w, s.b.DisconnectNetwork(r.Context(), name, req))
}

// pruneNetworks answers POST /networks/prune?filters= with 200
// {"NetworksDeleted":[...]}.
func (s *Server) pruneNetworks(w http.ResponseWriter, r *http.Request, _ string) {
	filters, err := decodeFilters(r.URL.Query().Get("filters"))
	if err != nil {
		writeError(w, err)
		return
	}
	report, err := s.b.PruneNetworks(r.Context(), filters)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, report)
}

// decodeBody decodes the JSON request body into v, answering 400 when it
// is missing or malformed.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	err := readJSON(w, r, v)
	switch {
	case errors.Is(err, io.EOF):
		writeError(w, invalidf("request body is empty"))
		return false
	case err != nil:
		writeError(w, badJSON("invalid JSON body", err))
		return false
	}
	return true
}

// ok answers 200 with no body, or the error.
func (s *Server) ok(w http.ResponseWriter, err error) {
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// inspectResponse is GET /containers/{id}/json with the network settings
// clients still read at the top level of NetworkSettings (IPAddress,
// Gateway ...: docker inspect -f '{{.NetworkSettings.IPAddress}}', the
// Python SDK), which moby's current types dropped.
type inspectResponse struct {
	*container.InspectResponse
	NetworkSettings *legacyNetworkSettings
}

// legacyNetworkSettings are those fields, taken from the default bridge
// endpoint as Docker 20.10 does (empty on other networks).
type legacyNetworkSettings struct {
	*container.NetworkSettings
	Bridge                 string
	HairpinMode            bool
	LinkLocalIPv6Address   string
	LinkLocalIPv6PrefixLen int
	SecondaryIPAddresses   []string
	SecondaryIPv6Addresses []string
	EndpointID             string
	Gateway                string
	GlobalIPv6Address      string
	GlobalIPv6PrefixLen    int
	IPAddress              string
	IPPrefixLen            int
	IPv6Gateway            string
	MacAddress             string
}

func withLegacyNetworkSettings(c *container.InspectResponse) inspectResponse {
	out := inspectResponse{InspectResponse: c}
	if c.NetworkSettings == nil {
		return out
	}
	ns := &legacyNetworkSettings{NetworkSettings: c.NetworkSettings}
	if ep := c.NetworkSettings.Networks[network.NetworkBridge]; ep != nil && ep.IPAddress.IsValid() {
		ns.EndpointID, ns.IPAddress, ns.IPPrefixLen = ep.EndpointID, ep.IPAddress.String(), ep.IPPrefixLen
		ns.Gateway, ns.MacAddress = ep.Gateway.String(), ep.MacAddress.String()
	}
	out.NetworkSettings = ns
	return out
}

package network

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/gantry/gantry/internal/atomicfile"
)

// stateFile is the one record of the package under Config.Root: every
// network and its address allocations.
const stateFile = "networks.json"

// record is a network as stored: its definition and which container holds
// which address.
type record struct {
	Network
	Allocations map[string]netip.Addr    `json:",omitempty"` // container ID -> address
	Endpoints   map[string]savedEndpoint `json:",omitempty"` // container ID -> its endpoint, to adopt it
}

// savedEndpoint is an endpoint as stored, with what a new gantryd needs to
// adopt it: the host end of its veth and whether it holds the default route.
type savedEndpoint struct {
	Endpoint
	HostLink     string
	DefaultRoute bool
}

type stateDoc struct {
	Networks []*record
}

func loadState(root string) ([]*record, error) {
	data, err := os.ReadFile(filepath.Join(root, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read network state: %w", err)
	}
	var doc stateDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("read network state %s: %w", filepath.Join(root, stateFile), err)
	}
	return doc.Networks, nil
}

// saveState writes the records. durable asks for fsyncs: network
// definitions need them; allocations and endpoints are written without
// (after a crash of the machine no container runs to adopt).
func saveState(root string, recs []*record, durable bool) error {
	data, err := json.MarshalIndent(stateDoc{Networks: recs}, "", "\t")
	if err != nil {
		return err
	}
	path := filepath.Join(root, stateFile)
	if durable {
		return atomicfile.Write(path, data, 0o600)
	}
	return atomicfile.Replace(path, data, 0o600)
}

// randomHex returns n random bytes in hex: network and endpoint IDs (32
// bytes), veth names (a few).
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

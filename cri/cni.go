package cri

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/containernetworking/cni/libcni"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// cni runs the CNI plugins of the first network configuration in the
// configuration directory (as containerd and CRI-O do) on pods' network
// namespaces. The configuration is read at each use, so that one written
// after gantryd started (by a network add-on) is taken.
type cni struct {
	confDir string
	lib     *libcni.CNIConfig
}

func newCNI(confDir string, binDirs []string, cacheDir string) *cni {
	return &cni{confDir: confDir, lib: libcni.NewCNIConfigWithCacheDir(binDirs, cacheDir, nil)}
}

// network is the configuration list in use: the first file of the
// directory in lexical order, as the kubelet's runtimes choose. No file
// is an unavailable error (the node's network is not ready).
func (c *cni) network() (*libcni.NetworkConfigList, error) {
	files, err := libcni.ConfFiles(c.confDir, []string{".conf", ".conflist", ".json"})
	if err != nil {
		return nil, errdefs.ErrUnavailable.WithMessage(fmt.Sprintf("cni config load failed: %v", err))
	}
	sort.Strings(files)
	for _, f := range files {
		var list *libcni.NetworkConfigList
		if strings.HasSuffix(f, ".conflist") {
			list, err = libcni.ConfListFromFile(f)
		} else {
			var conf *libcni.NetworkConfig
			if conf, err = libcni.ConfFromFile(f); err == nil {
				list, err = libcni.ConfListFromConf(conf)
			}
		}
		if err != nil {
			return nil, errdefs.ErrUnavailable.WithMessage(fmt.Sprintf("cni config %s: %v", f, err))
		}
		return list, nil
	}
	return nil, errdefs.ErrUnavailable.WithMessage("cni plugin not initialized: no network config found in " + c.confDir)
}

// ready is nil when a network configuration is there.
func (c *cni) ready() error {
	_, err := c.network()
	return err
}

func runtimeConf(id, netns string, cfg *runtimeapi.PodSandboxConfig) *libcni.RuntimeConf {
	md := cfg.GetMetadata()
	rt := &libcni.RuntimeConf{
		ContainerID: id,
		NetNS:       netns,
		IfName:      "eth0",
		Args: [][2]string{
			{"IgnoreUnknown", "1"},
			{"K8S_POD_NAMESPACE", md.GetNamespace()},
			{"K8S_POD_NAME", md.GetName()},
			{"K8S_POD_INFRA_CONTAINER_ID", id},
			{"K8S_POD_UID", md.GetUid()},
		},
	}
	var ports []map[string]any
	for _, pm := range cfg.GetPortMappings() {
		if pm.GetHostPort() <= 0 {
			continue
		}
		ports = append(ports, map[string]any{
			"hostPort":      pm.GetHostPort(),
			"containerPort": pm.GetContainerPort(),
			"protocol":      strings.ToLower(pm.GetProtocol().String()),
			"hostIP":        pm.GetHostIp(),
		})
	}
	rt.CapabilityArgs = map[string]any{}
	if len(ports) > 0 {
		rt.CapabilityArgs["portMappings"] = ports
	}
	if dns := cfg.GetDnsConfig(); dns != nil {
		rt.CapabilityArgs["dns"] = map[string]any{"servers": dns.GetServers(), "searches": dns.GetSearches(), "options": dns.GetOptions()}
	}
	return rt
}

// add connects the pod's network namespace and returns its addresses,
// IPv4 first. A failed add is undone (DEL) before the error returns.
func (c *cni) add(ctx context.Context, id, netns string, cfg *runtimeapi.PodSandboxConfig) ([]string, error) {
	list, err := c.network()
	if err != nil {
		return nil, err
	}
	rt := runtimeConf(id, netns, cfg)
	res, err := c.lib.AddNetworkList(ctx, list, rt)
	if err != nil {
		if derr := c.delList(context.WithoutCancel(ctx), list, rt); derr != nil {
			err = fmt.Errorf("%w (and undoing it: %v)", err, derr)
		}
		return nil, fmt.Errorf("setup network for sandbox %s: network %q: %w", id, list.Name, err)
	}
	r, err := types100.NewResultFromResult(res)
	if err != nil {
		c.delList(context.WithoutCancel(ctx), list, rt)
		return nil, fmt.Errorf("setup network for sandbox %s: %w", id, err)
	}
	var v4, v6 []string
	for _, ip := range r.IPs {
		if ip.Interface != nil && *ip.Interface >= 0 && *ip.Interface < len(r.Interfaces) && r.Interfaces[*ip.Interface].Sandbox == "" {
			continue // an address on the host's side
		}
		if ip.Address.IP.To4() != nil {
			v4 = append(v4, ip.Address.IP.String())
		} else if ip.Address.IP.To16() != nil && !ip.Address.IP.IsLinkLocalUnicast() {
			v6 = append(v6, ip.Address.IP.String())
		}
	}
	return append(v4, v6...), nil
}

// del disconnects the pod's network namespace (idempotent: plugins treat
// a DEL of what is gone as done).
func (c *cni) del(ctx context.Context, id, netns string, cfg *runtimeapi.PodSandboxConfig) error {
	list, err := c.network()
	if err != nil {
		return err
	}
	if err := c.delList(ctx, list, runtimeConf(id, netns, cfg)); err != nil {
		return fmt.Errorf("teardown network for sandbox %s: %w", id, err)
	}
	return nil
}

// delList is a DEL of the whole list. libcni's stops at the first plugin
// that fails (one that is missing, say), leaving the earlier ones' work
// (a veth, an address) in place; so on failure each plugin gets its DEL,
// last first, whatever the others answer, and the first error returns.
func (c *cni) delList(ctx context.Context, list *libcni.NetworkConfigList, rt *libcni.RuntimeConf) error {
	err := c.lib.DelNetworkList(ctx, list, rt)
	if err == nil {
		return nil
	}
	for i := len(list.Plugins) - 1; i >= 0; i-- {
		conf, cerr := pluginConf(list, list.Plugins[i])
		if cerr != nil {
			continue
		}
		c.lib.DelNetwork(ctx, conf, rt)
	}
	return err
}

// pluginConf is one plugin of a list as a configuration of its own: with
// the list's name and CNI version, as libcni gives them to the plugin.
func pluginConf(list *libcni.NetworkConfigList, p *libcni.PluginConfig) (*libcni.PluginConfig, error) {
	var raw map[string]any
	if err := json.Unmarshal(p.Bytes, &raw); err != nil {
		return nil, err
	}
	raw["name"], raw["cniVersion"] = list.Name, list.CNIVersion
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, err
	}
	return libcni.NetworkPluginConfFromBytes(b)
}

package cli

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// newNetworkCommand is `network` and its verbs.
func newNetworkCommand(c *Cli) *cobra.Command {
	cmd := &cobra.Command{Use: "network", Short: "Manage networks", Args: noArgs, RunE: showHelp}
	cmd.AddCommand(
		newNetworkCreateCommand(c), newNetworkLsCommand(c), newNetworkInspectCommand(c),
		newNetworkRmCommand(c), newNetworkConnectCommand(c), newNetworkDisconnectCommand(c),
		newNetworkPruneCommand(c),
	)
	return cmd
}

type networkCreateOptions struct {
	driver   string
	subnet   string
	gateway  string
	internal bool
	labels   []string
	options  []string
}

func newNetworkCreateCommand(c *Cli) *cobra.Command {
	var opts networkCreateOptions
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] NETWORK",
		Short: "Create a network",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runNetworkCreate(cmd.Context(), c, args[0], opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&opts.driver, "driver", "d", "bridge", "Driver to manage the Network")
	fl.StringVar(&opts.subnet, "subnet", "", "Subnet in CIDR format that represents a network segment")
	fl.StringVar(&opts.gateway, "gateway", "", "IPv4 Gateway for the master subnet")
	fl.BoolVar(&opts.internal, "internal", false, "Restrict external access to the network")
	fl.StringArrayVar(&opts.labels, "label", nil, "Set metadata on a network")
	fl.StringArrayVarP(&opts.options, "opt", "o", nil, "Set driver specific options")
	return cmd
}

func runNetworkCreate(ctx context.Context, c *Cli, name string, opts networkCreateOptions) error {
	ipam, err := ipamConfig(opts.subnet, opts.gateway)
	if err != nil {
		return err
	}
	api, err := c.Client()
	if err != nil {
		return err
	}
	res, err := api.NetworkCreate(ctx, name, client.NetworkCreateOptions{
		Driver: opts.driver, Internal: opts.internal, IPAM: ipam,
		Labels: keyValues(opts.labels), Options: keyValues(opts.options),
	})
	if err != nil {
		return err
	}
	for _, w := range res.Warning {
		fmt.Fprintln(c.Err, "WARNING:", w)
	}
	fmt.Fprintln(c.Out, res.ID)
	return nil
}

// ipamConfig checks --subnet and --gateway as docker does before sending
// them.
func ipamConfig(subnet, gateway string) (*network.IPAM, error) {
	ipam := &network.IPAM{Driver: "default", Config: []network.IPAMConfig{}}
	if subnet == "" {
		if gateway != "" {
			return nil, fmt.Errorf("every ip-range or gateway must have a corresponding subnet")
		}
		return ipam, nil
	}
	var cfg network.IPAMConfig
	var err error
	if cfg.Subnet, err = netip.ParsePrefix(subnet); err != nil {
		return nil, fmt.Errorf("invalid subnet %s: invalid CIDR address: %s", subnet, subnet)
	}
	if gateway != "" {
		if cfg.Gateway, err = netip.ParseAddr(gateway); err != nil {
			return nil, fmt.Errorf("invalid gateway %s: %w", gateway, err)
		}
	}
	ipam.Config = append(ipam.Config, cfg)
	return ipam, nil
}

const networkDefaultFormat = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"

var networkHeaders = map[string]string{
	"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE",
	"IPv4": "IPV4", "IPv6": "IPV6", "Internal": "INTERNAL", "CreatedAt": "CREATED AT", "Labels": "LABELS",
}

type networkLsOptions struct {
	quiet   bool
	noTrunc bool
	format  string
	filter  *filterFlag
}

func newNetworkLsCommand(c *Cli) *cobra.Command {
	opts := networkLsOptions{filter: newFilterFlag()}
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List networks",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runNetworkLs(cmd.Context(), c, opts)
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&opts.quiet, "quiet", "q", false, "Only display network IDs")
	fl.BoolVar(&opts.noTrunc, "no-trunc", false, "Do not truncate the output")
	fl.StringVar(&opts.format, "format", "", "Format output using a custom template")
	fl.VarP(opts.filter, "filter", "f", "Provide filter values (e.g. \"driver=bridge\")")
	return cmd
}

func runNetworkLs(ctx context.Context, c *Cli, opts networkLsOptions) error {
	format := networkDefaultFormat
	switch {
	case opts.quiet:
		format = "{{.ID}}"
	case opts.format != "":
		format = opts.format
	}
	f, err := parseListFormat(format, networkHeaders)
	if err != nil {
		return err
	}
	api, err := c.Client()
	if err != nil {
		return err
	}
	res, err := api.NetworkList(ctx, client.NetworkListOptions{Filters: opts.filter.filters()})
	if err != nil {
		return err
	}
	slices.SortFunc(res.Items, func(a, b network.Summary) int { return naturalCompare(a.Name, b.Name) })
	rows := make([]any, 0, len(res.Items))
	for _, n := range res.Items {
		rows = append(rows, networkRow{n: n, trunc: !opts.noTrunc})
	}
	return f.write(c.Out, rows)
}

// naturalCompare orders names as docker's CLI lists networks
// (sortorder.NaturalLess): runs of digits compare as numbers, so net2
// comes before net10.
func naturalCompare(a, b string) int {
	for a != "" && b != "" {
		da, db := leadingDigits(a), leadingDigits(b)
		if da == "" || db == "" {
			if a[0] != b[0] {
				return cmp.Compare(a[0], b[0])
			}
			a, b = a[1:], b[1:]
			continue
		}
		na, nb := strings.TrimLeft(da, "0"), strings.TrimLeft(db, "0")
		if c := cmp.Or(cmp.Compare(len(na), len(nb)), strings.Compare(na, nb), cmp.Compare(len(da), len(db))); c != 0 {
			return c
		}
		a, b = a[len(da):], b[len(db):]
	}
	return cmp.Compare(len(a), len(b))
}

func leadingDigits(s string) string {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i]
}

// networkRow is one network for --format templates, with docker's fields.
type networkRow struct {
	n     network.Summary
	trunc bool
}

func (r networkRow) ID() string {
	if r.trunc {
		return shortID(r.n.ID)
	}
	return r.n.ID
}
func (r networkRow) Name() string      { return r.n.Name }
func (r networkRow) Driver() string    { return r.n.Driver }
func (r networkRow) Scope() string     { return r.n.Scope }
func (r networkRow) IPv4() string      { return fmt.Sprint(r.n.EnableIPv4) }
func (r networkRow) IPv6() string      { return fmt.Sprint(r.n.EnableIPv6) }
func (r networkRow) Internal() string  { return fmt.Sprint(r.n.Internal) }
func (r networkRow) CreatedAt() string { return r.n.Created.String() }
func (r networkRow) Labels() string    { return joinLabels(r.n.Labels) }

// MarshalJSON is the row for {{json .}} and --format json, as docker's.
func (r networkRow) MarshalJSON() ([]byte, error) { return marshalRow(r) }

func newNetworkInspectCommand(c *Cli) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NETWORK [NETWORK...]",
		Short: "Display detailed information on one or more networks",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.Client()
			if err != nil {
				return err
			}
			get := func(ctx context.Context, ref string) (any, []byte, error) {
				res, err := api.NetworkInspect(ctx, ref, client.NetworkInspectOptions{})
				return res.Network, res.Raw, err
			}
			return inspectAll(cmd.Context(), c.Out, args, format, get)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a custom template")
	return cmd
}

func newNetworkRmCommand(c *Cli) *cobra.Command {
	return &cobra.Command{
		Use:     "rm NETWORK [NETWORK...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more networks",
		Args:    minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.Client()
			if err != nil {
				return err
			}
			errs := make([]error, len(args))
			for i, name := range args {
				_, errs[i] = api.NetworkRemove(cmd.Context(), name, client.NetworkRemoveOptions{})
			}
			return reportEach(c.Out, args, errs)
		},
	}
}

func newNetworkConnectCommand(c *Cli) *cobra.Command {
	var aliases []string
	var ip string
	cmd := &cobra.Command{
		Use:   "connect [OPTIONS] NETWORK CONTAINER",
		Short: "Connect a container to a network",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			es, err := endpointSettings(aliases, ip)
			if err != nil {
				return err
			}
			api, err := c.Client()
			if err != nil {
				return err
			}
			_, err = api.NetworkConnect(cmd.Context(), args[0], client.NetworkConnectOptions{Container: args[1], EndpointConfig: es})
			return err
		},
	}
	cmd.Flags().StringSliceVar(&aliases, "alias", nil, "Add network-scoped alias for the container")
	cmd.Flags().StringVar(&ip, "ip", "", "IPv4 address (e.g., \"172.30.100.104\")")
	return cmd
}

// endpointSettings are the --alias/--network-alias and --ip of a container
// joining a network.
func endpointSettings(aliases []string, ip string) (*network.EndpointSettings, error) {
	es := &network.EndpointSettings{Aliases: aliases}
	if ip != "" {
		addr, err := netip.ParseAddr(ip)
		if err != nil || !addr.Is4() {
			return nil, fmt.Errorf("invalid IPv4 address: %s", ip)
		}
		es.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: addr}
	}
	return es, nil
}

func newNetworkDisconnectCommand(c *Cli) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "disconnect [OPTIONS] NETWORK CONTAINER",
		Short: "Disconnect a container from a network",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.Client()
			if err != nil {
				return err
			}
			_, err = api.NetworkDisconnect(cmd.Context(), args[0], client.NetworkDisconnectOptions{Container: args[1], Force: force})
			return err
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force the container to disconnect from a network")
	return cmd
}

func newNetworkPruneCommand(c *Cli) *cobra.Command {
	var force bool
	filter := newFilterFlag()
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove all unused networks",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !force && !confirm(c, "WARNING! This will remove all custom networks not used by at least one container.") {
				return statusError{code: 1, msg: "Error: network prune has been cancelled"}
			}
			api, err := c.Client()
			if err != nil {
				return err
			}
			res, err := api.NetworkPrune(cmd.Context(), client.NetworkPruneOptions{Filters: filter.filters()})
			if err != nil {
				return err
			}
			if len(res.Report.NetworksDeleted) > 0 {
				fmt.Fprintln(c.Out, "Deleted Networks:")
				for _, n := range res.Report.NetworksDeleted {
					fmt.Fprintln(c.Out, n)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	cmd.Flags().Var(filter, "filter", "Provide filter values (e.g. \"label=<label>\")")
	return cmd
}

// confirm asks the question docker's prune commands ask and reads y or N.
func confirm(c *Cli, warning string) bool {
	fmt.Fprintf(c.Out, "%s\nAre you sure you want to continue? [y/N] ", warning)
	answer, _ := bufio.NewReader(c.In).ReadString('\n')
	answer = strings.ToLower(strings.TrimSpace(answer))
	return answer == "y" || answer == "yes"
}

package daemon

// ReloadRegistries replaces the registry mirrors and the insecure
// registries while gantryd runs, as dockerd's configuration reload does:
// pulls and pushes that start afterwards use them. An invalid mirror is an
// invalid-argument error and changes nothing.
func (d *Daemon) ReloadRegistries(mirrors, insecure []string) error {
	return d.registry.Reconfigure(mirrors, insecure)
}

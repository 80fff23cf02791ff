package integration

import (
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"

	gdns "github.com/gantry/gantry/network/dns"
)

// upstreamAddr is the answer of the tests' upstream DNS server for
// example.com.
const upstreamAddr = "192.0.2.7"

// serveUpstreamInDaemonNet runs a DNS server on port 53 (UDP) of every
// address of the daemon's network namespace, standing for the host's
// resolver: it knows example.com and answers NXDOMAIN for the rest, as a
// real one does for a single-label name. It reports false for a daemon in
// the host's namespace, where it does not start one.
func (e *env) serveUpstreamInDaemonNet(t *testing.T) bool {
	t.Helper()
	if e.d == nil || e.d.netns == "" {
		return false
	}
	goruntime.LockOSThread() // left locked if the thread cannot get back: it then dies with the goroutine
	own, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	target, err := os.Open(e.d.netns)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		t.Fatalf("enter %s: %v", e.d.netns, err)
	}
	pc, lerr := net.ListenPacket("udp4", "0.0.0.0:53")
	if err := unix.Setns(int(own.Fd()), unix.CLONE_NEWNET); err != nil {
		t.Fatalf("return from %s: %v", e.d.netns, err)
	}
	goruntime.UnlockOSThread()
	if lerr != nil {
		t.Fatal(lerr)
	}
	s := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		switch {
		case q.Question[0].Name == "example.com." && q.Question[0].Qtype == dns.TypeA:
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: "example.com.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP(upstreamAddr)})
		case q.Question[0].Name == "example.com.":
		default:
			m.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(m)
	})}
	started := make(chan struct{})
	s.NotifyStartedFunc = func() { close(started) }
	go s.ActivateAndServe()
	<-started
	t.Cleanup(func() { s.Shutdown() })
	return true
}

// dnsNetwork creates a user network on a random /24 and returns its name
// and gateway.
func (e *env) dnsNetwork(t *testing.T) (string, string) {
	t.Helper()
	octet := strconv.Itoa(1 + rand.IntN(250))
	net := name("dns")
	e.mustDocker(t, "network", "create", "--subnet", "10.213."+octet+".0/24", net)
	t.Cleanup(func() { e.docker(t, "network", "rm", net) })
	return net, "10.213." + octet + ".1"
}

// nslookupAddrs are the addresses busybox nslookup printed for the name.
func nslookupAddrs(out string) []string {
	var addrs []string
	answers := false
	for _, l := range lines(out) {
		if strings.HasPrefix(l, "Name:") {
			answers = true
		}
		if a, ok := strings.CutPrefix(l, "Address: "); ok && answers {
			addrs = append(addrs, strings.TrimSpace(a))
		}
	}
	return addrs
}

func TestEmbeddedDNS(t *testing.T) {
	e := newEnv(t)
	upstream := e.serveUpstreamInDaemonNet(t)
	needUpstream := func(t *testing.T) {
		if !upstream {
			t.Skip("the test's upstream DNS server runs in the test daemon's network namespace")
		}
	}
	net, gw := e.dnsNetwork(t)
	ipOf := func(c string) string {
		return e.inspectField(t, c, "{{(index .NetworkSettings.Networks \""+net+"\").IPAddress}}")
	}
	web := name("web")
	e.mustDocker(t, "run", "-d", "--name", web, "--network", net, "--network-alias", "www", "busybox", "sleep", "300")
	client := name("client")
	e.mustDocker(t, "run", "-d", "--name", client, "--network", net, "--dns", gw, "busybox", "sleep", "300")
	lookup := func(host string) result {
		return e.docker(t, "exec", client, "nslookup", host)
	}

	// A legacy link on a user-defined network is an alias only the linking
	// container's server answers, as dockerd's (compose links:).
	t.Run("link alias", func(t *testing.T) {
		linked := name("linked")
		e.mustDocker(t, "run", "-d", "--name", linked, "--network", net, "--link", web+":database", "busybox", "sleep", "300")
		defer e.docker(t, "rm", "-f", linked)
		r := e.docker(t, "exec", linked, "nslookup", "database")
		if got := nslookupAddrs(r.Stdout); r.Code != 0 || len(got) != 1 || got[0] != ipOf(web) {
			t.Errorf("nslookup of the link alias: %v\n%s\nwant %s", got, r, ipOf(web))
		}
		if got := nslookupAddrs(lookup("database").Stdout); len(got) != 0 {
			t.Errorf("a container without the link resolved its alias: %v", got)
		}
	})

	t.Run("nslookup web", func(t *testing.T) {
		r := lookup(web)
		if got := nslookupAddrs(r.Stdout); r.Code != 0 || len(got) != 1 || got[0] != ipOf(web) {
			t.Errorf("nslookup %s: %v\n%s\nwant %s", web, got, r, ipOf(web))
		}
		id := e.inspectField(t, web, "{{.Id}}")[:12]
		if got := nslookupAddrs(lookup(id).Stdout); len(got) != 1 || got[0] != ipOf(web) {
			t.Errorf("nslookup of the short ID %s: %v", id, got)
		}
	})

	t.Run("a container that joins later, and leaves", func(t *testing.T) {
		needUpstream(t)
		late := name("late")
		if r := lookup(late); r.Code == 0 || !strings.Contains(r.Stdout+r.Stderr, "NXDOMAIN") {
			t.Fatalf("nslookup %s before it runs:\n%s\nwant NXDOMAIN", late, r)
		}
		e.mustDocker(t, "run", "-d", "--name", late, "--network", net, "busybox", "sleep", "300")
		if r := lookup(late); len(nslookupAddrs(r.Stdout)) != 1 || nslookupAddrs(r.Stdout)[0] != ipOf(late) {
			t.Errorf("nslookup %s once it runs:\n%s\nwant %s", late, r, ipOf(late))
		}
		e.mustDocker(t, "stop", "-t", "0", late)
		if r := lookup(late); r.Code == 0 || !strings.Contains(r.Stdout+r.Stderr, "NXDOMAIN") {
			t.Errorf("nslookup %s after it stopped:\n%s\nwant NXDOMAIN", late, r)
		}
	})

	t.Run("an alias shared by two containers rotates", func(t *testing.T) {
		web2 := name("web2")
		e.mustDocker(t, "run", "-d", "--name", web2, "--network", net, "--network-alias", "www", "busybox", "sleep", "300")
		want := map[string]bool{ipOf(web): true, ipOf(web2): true}
		var firsts []string
		for range 4 {
			got := nslookupAddrs(lookup("www").Stdout)
			if len(got) != 2 || !want[got[0]] || !want[got[1]] || got[0] == got[1] {
				t.Fatalf("nslookup www: %v, want %v", got, want)
			}
			firsts = append(firsts, got[0])
		}
		if e.d != nil && e.d.isDockerd() {
			return // dockerd shuffles: it only promises both addresses
		}
		if firsts[0] == firsts[1] || firsts[1] == firsts[2] || firsts[0] != firsts[2] {
			t.Errorf("first addresses of four answers: %v, want them alternating", firsts)
		}
	})

	t.Run("other names are forwarded upstream", func(t *testing.T) {
		needUpstream(t)
		r := lookup("example.com")
		if got := nslookupAddrs(r.Stdout); len(got) != 1 || got[0] != upstreamAddr || !strings.Contains(r.Stdout, "127.0.0.11") {
			t.Errorf("nslookup example.com: %v\n%s\nwant %s, from the upstream at %s through 127.0.0.11", got, r, upstreamAddr, gw)
		}
	})

	t.Run("resolv.conf and hosts", func(t *testing.T) {
		got := e.mustDocker(t, "run", "--rm", "--network", net, "--dns", "10.9.9.9", "--dns-search", "example.com",
			"--dns-option", "ndots:2", "--dns-option", "timeout:1", "busybox", "cat", "/etc/resolv.conf") + "\n"
		if want := "search example.com\nnameserver 127.0.0.11\noptions ndots:2 timeout:1\n"; got != want {
			t.Errorf("resolv.conf with --dns, --dns-search, --dns-option:\n%s\nwant\n%s", got, want)
		}
		got = e.mustDocker(t, "exec", client, "cat", "/etc/resolv.conf") + "\n"
		if !strings.Contains(got, "nameserver 127.0.0.11\noptions ndots:0\n") || strings.Count(got, "nameserver") != 1 {
			t.Errorf("resolv.conf on a user network:\n%s\nwant nameserver 127.0.0.11 and options ndots:0", got)
		}
		// As dockerd 20.10: localhost and the container's own line, no peers.
		hosts := e.mustDocker(t, "exec", client, "cat", "/etc/hosts") + "\n"
		own := ipOf(client) + "\t" + e.inspectField(t, client, "{{.Config.Hostname}}") + "\n"
		if !strings.HasSuffix(hosts, own) || strings.Contains(hosts, ipOf(web)) {
			t.Errorf("/etc/hosts on a user network:\n%s\nwant its own line last, and no peer", hosts)
		}
	})

	t.Run("the default bridge keeps /etc/hosts only", func(t *testing.T) {
		got := e.mustDocker(t, "run", "--rm", "busybox", "cat", "/etc/resolv.conf")
		if strings.Contains(got, "127.0.0.11") {
			t.Errorf("resolv.conf on the default bridge:\n%s", got)
		}
		// Connected to a user network, a running container switches to the
		// embedded server, as with dockerd.
		plain := name("plain")
		e.mustDocker(t, "run", "-d", "--name", plain, "busybox", "sleep", "300")
		e.mustDocker(t, "network", "connect", net, plain)
		if got := e.mustDocker(t, "exec", plain, "cat", "/etc/resolv.conf"); !strings.Contains(got, "nameserver 127.0.0.11\n") {
			t.Errorf("resolv.conf after connect to %s:\n%s", net, got)
		}
		if got := nslookupAddrs(e.docker(t, "exec", plain, "nslookup", web).Stdout); len(got) != 1 || got[0] != ipOf(web) {
			t.Errorf("nslookup %s after connect: %v", web, got)
		}
		// And its hosts file gets a line for its new address, as dockerd's.
		own := ipOf(plain) + "\t" + e.inspectField(t, plain, "{{.Config.Hostname}}") + "\n"
		if hosts := e.mustDocker(t, "exec", plain, "cat", "/etc/hosts") + "\n"; !strings.HasSuffix(hosts, own) {
			t.Errorf("/etc/hosts after connect:\n%s\nwant %q last", hosts, own)
		}
		e.mustDocker(t, "network", "disconnect", net, plain)
		if hosts := e.mustDocker(t, "exec", plain, "cat", "/etc/hosts") + "\n"; strings.Contains(hosts, own) {
			t.Errorf("/etc/hosts after disconnect:\n%s\nstill has %q", hosts, own)
		}
	})
}

// buildDNSProbe builds integration/testdata/dnsprobe (static) into a new
// directory, to bind-mount.
func buildDNSProbe(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the DNS probe is built with the go command: %v", err)
	}
	cmd := exec.Command(goBin, "build", "-o", filepath.Join(dir, "dnsprobe"), "./testdata/dnsprobe")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the DNS probe: %v\n%s", err, out)
	}
	return dir
}

// probeFields parses the probe's key=value line.
func probeFields(t *testing.T, out string) map[string]int {
	t.Helper()
	fields := map[string]int{}
	for _, f := range strings.Fields(out) {
		k, v, ok := strings.Cut(f, "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil {
			t.Fatalf("dnsprobe output %q", out)
		}
		fields[k] = n
	}
	return fields
}

// TestDNSFlood: a container asking its DNS server as fast as it can is held
// to the rate limit, and another container's lookups are answered
// meanwhile.
func TestDNSFlood(t *testing.T) {
	e := newEnv(t)
	net, _ := e.dnsNetwork(t)
	probe := buildDNSProbe(t)
	web := name("web")
	e.mustDocker(t, "run", "-d", "--name", web, "--network", net, "-v", probe+":/probe:ro", "busybox", "sleep", "300")
	flooder := name("flooder")
	e.mustDocker(t, "run", "-d", "--name", flooder, "--network", net, "-v", probe+":/probe:ro", "busybox", "sleep", "300")

	const seconds = 4
	flood := make(chan result, 1)
	go func() { flood <- e.docker(t, "exec", flooder, "/probe/dnsprobe", "flood", strconv.Itoa(seconds), web) }()
	// Meanwhile, from the other container: one lookup at a time, 50 a
	// second for the flood's duration. Each has one second to be answered.
	r := e.docker(t, "exec", web, "/probe/dnsprobe", "rate", "50", strconv.Itoa(seconds-1), flooder)
	f := <-flood
	if r.Code != 0 || f.Code != 0 {
		t.Fatalf("probes:\n%s\n%s", r, f)
	}
	other, flooded := probeFields(t, r.Stdout), probeFields(t, f.Stdout)
	t.Logf("during the flood (%s): the other container %v; the flooder %v", strings.TrimSpace(f.Stdout), other, flooded)
	if other["failed"] > 0 || other["ok"] < 50 {
		t.Errorf("the other container's lookups during the flood: %v, want none failed", other)
	}
	if e.External {
		return // dockerd has no rate limit
	}
	// The burst, then the rate, with the probe's 200 ms of draining.
	if max := gdns.QueryBurst + gdns.QueryRate*(seconds+1); flooded["answered"] > max || flooded["sent"] < 2*max {
		t.Errorf("flood: %v, want at most %d answered of many more sent", flooded, max)
	}
}

// TestComposeRunLinks: docker-compose 1.29's `run --rm` on a compose
// network and a service's `links:` resolve through the DNS server, as
// with dockerd (they were refused: links only on the default bridge).
func TestComposeRunLinks(t *testing.T) {
	e := newEnv(t)
	if _, err := exec.LookPath("docker-compose"); err != nil {
		t.Skip("docker-compose not installed")
	}
	dir := t.TempDir()
	project := strings.ReplaceAll(name("rl"), "-", "")
	file := filepath.Join(dir, "docker-compose.yml")
	os.WriteFile(file, []byte(`version: "2.4"
services:
  db:
    image: busybox
    command: ["sleep", "300"]
  app:
    image: busybox
    command: ["sleep", "300"]
    links: ["db:database"]
`), 0o644)
	compose := func(args ...string) result {
		return e.run(t, nil, "docker-compose", append([]string{"--project-directory", dir, "-f", file, "-p", project}, args...)...)
	}
	if r := compose("up", "-d"); r.Code != 0 {
		t.Fatalf("docker-compose up:\n%s", r)
	}
	t.Cleanup(func() { compose("down") })
	if r := e.docker(t, "exec", project+"_app_1", "nslookup", "database"); r.Code != 0 || len(nslookupAddrs(r.Stdout)) != 1 {
		t.Errorf("the link alias from the app service:\n%s", r)
	}
	if r := compose("run", "--rm", "app", "nslookup", "db"); r.Code != 0 || len(nslookupAddrs(r.Stdout)) != 1 {
		t.Errorf("docker-compose run --rm on the compose network:\n%s", r)
	}
}

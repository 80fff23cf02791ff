package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// randomPort is a host port for a test to publish: random, so that tests
// running side by side (and other daemons) do not collide, and below the
// kernel's ephemeral range (32768-60999), where outgoing connections take
// theirs. It leaves room for a range of a few ports above it.
func randomPort() string { return strconv.Itoa(20000 + rand.IntN(12000)) }

// httpd is a busybox web server on port 80 answering body.
func httpd(body string) []string {
	return []string{"busybox", "sh", "-c", "mkdir -p /www && echo " + body + " > /www/index.html && exec httpd -f -p 80 -h /www"}
}

// waitHTTP polls url from the daemon's network until it answers want.
func (e *env) waitHTTP(t *testing.T, url, want string) {
	t.Helper()
	poll(t, 10*time.Second, "GET "+url, func() (bool, string) {
		r := e.inDaemonNet(t, "curl", "-sS", "--max-time", "2", url)
		return r.Code == 0 && strings.TrimSpace(r.Stdout) == want, r.String()
	})
}

// inspectField is docker inspect -f format of a container or network.
func (e *env) inspectField(t *testing.T, ref, format string) string {
	t.Helper()
	return strings.TrimSpace(e.mustDocker(t, "inspect", "-f", format, ref))
}

// dnatRules are the NAT rules of the daemon's network stack that mention port.
func (e *env) dnatRules(t *testing.T, port string) []string {
	t.Helper()
	r := e.inDaemonNet(t, "iptables-save", "-t", "nat")
	if r.Code != 0 {
		t.Fatalf("iptables-save:\n%s", r)
	}
	var out []string
	for _, l := range lines(r.Stdout) {
		if strings.Contains(l, "DNAT") && strings.Contains(l, "--dport "+port) {
			out = append(out, l)
		}
	}
	return out
}

func TestDefaultBridge(t *testing.T) {
	e := newEnv(t)
	out := e.mustDocker(t, "run", "--rm", "busybox", "ip", "-4", "-o", "addr", "show", "eth0")
	if !strings.Contains(out, "inet ") {
		t.Errorf("ip addr show eth0 in a container on the default bridge:\n%s\nwant an IPv4 address", out)
	}
	n := name("bridge")
	e.mustDocker(t, append([]string{"run", "-d", "--name", n}, httpd("direct")...)...)
	ip := e.inspectField(t, n, "{{.NetworkSettings.IPAddress}}")
	gw := e.inspectField(t, n, "{{.NetworkSettings.Gateway}}")
	if ip == "" || gw == "" || ip == gw {
		t.Errorf("inspect: IPAddress %q, Gateway %q, want two addresses", ip, gw)
	}
	if got := e.inspectField(t, n, "{{.NetworkSettings.Networks.bridge.IPAddress}} {{.HostConfig.NetworkMode}}"); got != ip+" default" {
		t.Errorf("Networks.bridge.IPAddress and NetworkMode = %q, want %q", got, ip+" default")
	}
	e.waitHTTP(t, "http://"+ip+"/", "direct") // from the daemon's network, unpublished
	// The default bridge resolves no container names, as Docker's.
	if r := e.docker(t, "run", "--rm", "busybox", "ping", "-c1", "-W1", n); r.Code == 0 {
		t.Errorf("ping %s by name on the default bridge worked:\n%s", n, r)
	}
}

func TestPublishPort(t *testing.T) {
	e := newEnv(t)
	port := randomPort()
	n := name("web")
	e.mustDocker(t, append([]string{"run", "-d", "--name", n, "-p", port + ":80"}, httpd("hello")...)...)
	e.waitHTTP(t, "http://127.0.0.1:"+port+"/", "hello")
	gw := e.inspectField(t, n, "{{.NetworkSettings.Gateway}}")
	e.waitHTTP(t, "http://"+gw+":"+port+"/", "hello")

	if got := strings.TrimSpace(e.mustDocker(t, "port", n, "80")); got != "0.0.0.0:"+port {
		t.Errorf("docker port %s 80 = %q, want 0.0.0.0:%s", n, got, port)
	}
	if got := e.mustDocker(t, "ps", "--filter", "name="+n, "--format", "{{.Ports}}"); !strings.Contains(got, "0.0.0.0:"+port+"->80/tcp") {
		t.Errorf("ps PORTS = %q, want 0.0.0.0:%s->80/tcp", got, port)
	}
	if got := e.inspectField(t, n, `{{json .NetworkSettings.Ports}}`); got != `{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"`+port+`"}]}` {
		t.Errorf("NetworkSettings.Ports = %s", got)
	}

	t.Run("port in use", func(t *testing.T) {
		n2 := name("web2")
		r := e.docker(t, "run", "-d", "--name", n2, "-p", port+":80", "busybox", "sleep", "60")
		if r.Code == 0 || !strings.Contains(r.Stderr, port) {
			t.Errorf("second container on host port %s:\n%s\nwant an error naming the port", port, r)
		}
		if got := e.inspectField(t, n2, "{{.State.Running}}"); got != "false" {
			t.Errorf("the refused container is running: %s", got)
		}
		// The first one still serves.
		e.waitHTTP(t, "http://127.0.0.1:"+port+"/", "hello")
	})

	t.Run("stop removes the rules", func(t *testing.T) {
		if e.External {
			t.Skip("the rules of a real dockerd are docker-proxy's and DOCKER chain's")
		}
		if len(e.dnatRules(t, port)) == 0 {
			t.Fatalf("no DNAT rule for port %s while the container runs", port)
		}
		e.mustDocker(t, "stop", "-t", "1", n)
		if rules := e.dnatRules(t, port); len(rules) > 0 {
			t.Errorf("DNAT rules left after stop:\n%s", strings.Join(rules, "\n"))
		}
		if r := e.inDaemonNet(t, "curl", "-sS", "--max-time", "2", "http://127.0.0.1:"+port+"/"); r.Code == 0 {
			t.Errorf("the port still answers after stop:\n%s", r)
		}
		e.mustDocker(t, "start", n)
		e.waitHTTP(t, "http://127.0.0.1:"+port+"/", "hello")
	})
}

func TestPublishRandomPorts(t *testing.T) {
	e := newEnv(t)
	n := name("rand")
	e.mustDocker(t, append([]string{"run", "-d", "--name", n, "-p", "80"}, httpd("random")...)...)
	got := strings.TrimSpace(e.mustDocker(t, "port", n))
	host, ok := strings.CutPrefix(got, "80/tcp -> 0.0.0.0:")
	if !ok || host == "" || host == "0" {
		t.Fatalf("docker port %s = %q, want 80/tcp -> 0.0.0.0:<port>", n, got)
	}
	e.waitHTTP(t, "http://127.0.0.1:"+host+"/", "random")

	// -P publishes what the image and --expose expose.
	n2 := name("all")
	e.mustDocker(t, append([]string{"run", "-d", "--name", n2, "-P", "--expose", "80", "--expose", "7000/udp"}, httpd("all")...)...)
	lines := lines(strings.TrimSpace(e.mustDocker(t, "port", n2)))
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "80/tcp -> 0.0.0.0:") || !strings.HasPrefix(lines[1], "7000/udp -> 0.0.0.0:") {
		t.Fatalf("docker port after -P = %q, want 80/tcp and 7000/udp", lines)
	}
	e.waitHTTP(t, "http://127.0.0.1:"+strings.TrimPrefix(lines[0], "80/tcp -> 0.0.0.0:")+"/", "all")
}

func TestUserNetwork(t *testing.T) {
	e := newEnv(t)
	net1, net2 := name("net1"), name("net2")
	e.mustDocker(t, "network", "create", net1)
	e.mustDocker(t, "network", "create", net2)
	t.Cleanup(func() { e.docker(t, "network", "rm", net1, net2) })

	srv := name("srv")
	e.mustDocker(t, append([]string{"run", "-d", "--name", srv, "--network", net1, "--network-alias", "web"}, httpd("by-name")...)...)
	for _, host := range []string{srv, "web"} {
		r := e.docker(t, "run", "--rm", "--network", net1, "busybox", "sh", "-c",
			"for i in 1 2 3 4 5 6 7 8 9 10; do timeout 3 wget -q -O- http://"+host+"/ && exit 0; sleep 0.3; done; exit 1")
		if r.Code != 0 || strings.TrimSpace(r.Stdout) != "by-name" {
			t.Errorf("wget http://%s/ from a peer on %s:\n%s", host, net1, r)
		}
	}
	if r := e.docker(t, "run", "--rm", "--network", net1, "busybox", "ping", "-c1", "-W2", srv); r.Code != 0 {
		t.Errorf("ping %s on %s:\n%s", srv, net1, r)
	}
	if got := e.inspectField(t, srv, "{{index .NetworkSettings.Networks \""+net1+"\" | json}}"); !strings.Contains(got, `"web"`) || !strings.Contains(got, `"IPAddress":"`) {
		t.Errorf("endpoint on %s: %s, want the alias and an address", net1, got)
	}

	// Another network cannot reach it, even by address.
	ip := e.inspectField(t, srv, "{{(index .NetworkSettings.Networks \""+net1+"\").IPAddress}}")
	// busybox wget -T crashes, so timeout bounds it, under a shell: as the
	// container's init, wget would ignore timeout's SIGTERM.
	fetch := []string{"busybox", "sh", "-c", "timeout 3 wget -q -O- http://" + ip + "/; exit $?"}
	if r := e.docker(t, append([]string{"run", "--rm", "--network", net1}, fetch...)...); r.Code != 0 {
		t.Errorf("a container on %s did not reach %s on it:\n%s", net1, ip, r)
	}
	if r := e.docker(t, append([]string{"run", "--rm", "--network", net2}, fetch...)...); r.Code == 0 {
		t.Errorf("a container on %s reached %s on %s:\n%s", net2, ip, net1, r)
	}
	if r := e.docker(t, "run", "--rm", "--network", net2, "busybox", "ping", "-c1", "-W1", srv); r.Code == 0 {
		t.Errorf("%s resolves on %s:\n%s", srv, net2, r)
	}

	t.Run("connect and disconnect", func(t *testing.T) {
		c := name("joiner")
		e.mustDocker(t, "run", "-d", "--name", c, "--network", net2, "busybox", "sleep", "60")
		e.mustDocker(t, "network", "connect", "--alias", "late", net1, c)
		if got := e.inspectField(t, c, "{{(index .NetworkSettings.Networks \""+net1+"\").IPAddress}}"); got == "" || got == "<no value>" {
			t.Fatalf("after connect, no address on %s: %q", net1, got)
		}
		if r := e.docker(t, "run", "--rm", "--network", net1, "busybox", "ping", "-c1", "-W2", "late"); r.Code != 0 {
			t.Errorf("ping the connected container by its alias:\n%s", r)
		}
		// Its own line keeps the address of the network it started on,
		// though net1 was created first.
		own := e.inspectField(t, c, "{{(index .NetworkSettings.Networks \""+net2+"\").IPAddress}}") + "\t" + e.inspectField(t, c, "{{.Config.Hostname}}") + "\n"
		if hosts := e.mustDocker(t, "exec", c, "cat", "/etc/hosts") + "\n"; !strings.Contains(hosts, own) {
			t.Errorf("/etc/hosts after connect:\n%s\nwant its own line %q, on %s", hosts, own, net2)
		}
		r := e.docker(t, "network", "connect", net1, c)
		if r.Code == 0 || !strings.Contains(r.Stderr, "already exists in network") {
			t.Errorf("second connect:\n%s\nwant already exists in network", r)
		}
		e.mustDocker(t, "network", "disconnect", net1, c)
		if got := e.inspectField(t, c, "{{len .NetworkSettings.Networks}}"); got != "1" {
			t.Errorf("networks after disconnect: %s, want 1", got)
		}
		if r := e.docker(t, "run", "--rm", "--network", net1, "busybox", "ping", "-c1", "-W1", "late"); r.Code == 0 {
			t.Errorf("the alias still resolves after disconnect:\n%s", r)
		}
		// A stopped container joins at its next start.
		stopped := name("stopped")
		e.mustDocker(t, "create", "--name", stopped, "busybox", "sleep", "60")
		e.mustDocker(t, "network", "connect", net1, stopped)
		e.mustDocker(t, "start", stopped)
		if got := e.inspectField(t, stopped, "{{(index .NetworkSettings.Networks \""+net1+"\").IPAddress}}"); got == "" {
			t.Errorf("a container connected while stopped has no address on %s after start", net1)
		}
	})

	t.Run("network in use", func(t *testing.T) {
		r := e.docker(t, "network", "rm", net1)
		if r.Code == 0 {
			t.Errorf("network rm of a network in use succeeded:\n%s", r)
		}
		code, _, body := e.api(t, "DELETE", "/networks/"+net1, nil)
		if code != 409 && code != 403 { // dockerd 20.10 answers 403 "has active endpoints"
			t.Errorf("DELETE /networks/%s in use = %d %s, want 409", net1, code, body)
		}
	})
}

func TestNetworkCommands(t *testing.T) {
	e := newEnv(t)
	n := name("cmds")
	subnet := fmt.Sprintf("10.%d.%d.0/24", 100+rand.IntN(100), rand.IntN(250))
	id := strings.TrimSpace(e.mustDocker(t, "network", "create", "--subnet", subnet, "--label", "gt=1", n))
	t.Cleanup(func() { e.docker(t, "network", "rm", n) })
	if !containerIDRe.MatchString(id) {
		t.Errorf("network create printed %q, want an ID", id)
	}
	ls := e.mustDocker(t, "network", "ls")
	for _, want := range []string{"NETWORK ID", "bridge", "host", "none", n, id[:12]} {
		if !strings.Contains(ls, want) {
			t.Errorf("network ls lacks %q:\n%s", want, ls)
		}
	}
	var nets []struct {
		Name, Driver, Scope string
		IPAM                struct {
			Config []struct{ Subnet, Gateway string }
		}
		Labels     map[string]string
		Containers map[string]any
	}
	if err := json.Unmarshal([]byte(e.mustDocker(t, "network", "inspect", n)), &nets); err != nil || len(nets) != 1 {
		t.Fatalf("network inspect: %v %v", err, nets)
	}
	if got := nets[0]; got.Name != n || got.Driver != "bridge" || got.Scope != "local" || len(got.IPAM.Config) != 1 ||
		got.IPAM.Config[0].Subnet != subnet || got.Labels["gt"] != "1" {
		t.Errorf("network inspect = %+v", got)
	}

	for _, tc := range []struct {
		name, method, path, body string
		code                     int
		msg                      string
	}{
		{"unknown", "GET", "/networks/" + name("nope"), "", 404, "not found"},
		{"remove unknown", "DELETE", "/networks/" + name("nope"), "", 404, "not found"},
		{"duplicate name", "POST", "/networks/create", `{"Name":"` + n + `"}`, 409, "already exists"},
		{"overlapping subnet", "POST", "/networks/create", `{"Name":"` + name("ovl") + `","IPAM":{"Config":[{"Subnet":"` + subnet + `"}]}}`, 400, "overlap"},
		{"remove predefined", "DELETE", "/networks/bridge", "", 403, "pre-defined"},
		{"unsupported option", "POST", "/networks/create", `{"Name":"` + name("opt") + `","Options":{"com.docker.network.bridge.name":"br0"}}`, 400, "network option com.docker.network.bridge.name is not supported"},
		{"create predefined", "POST", "/networks/create", `{"Name":"host"}`, 403, "predefined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			code, _, resp := e.api(t, tc.method, tc.path, body)
			if code != tc.code || !strings.Contains(apiMessage(t, resp), tc.msg) {
				t.Errorf("%s %s = %d %s, want %d with %q", tc.method, tc.path, code, resp, tc.code, tc.msg)
			}
		})
	}
	if r := e.docker(t, "network", "inspect", "gt-missing-net"); r.Code != 1 || !strings.Contains(r.Stderr, "gt-missing-net") {
		t.Errorf("network inspect of a missing network:\n%s", r)
	}

	unused := name("unused")
	e.mustDocker(t, "network", "create", "--label", "gtprune="+unused, unused)
	out := e.mustDocker(t, "network", "prune", "-f", "--filter", "label=gtprune="+unused)
	if !strings.Contains(out, unused) || strings.Contains(e.mustDocker(t, "network", "ls"), unused) {
		t.Errorf("network prune:\n%s\nwant %s deleted", out, unused)
	}
	if out := e.mustDocker(t, "network", "rm", n); strings.TrimSpace(out) != n {
		t.Errorf("network rm printed %q, want %s", out, n)
	}
}

// TestNetworkAfterDaemonKill: a gantryd without live restore killed with
// containers publishing ports leaves DNAT rules; the next one stops the
// containers and removes them, and the port can be published again.
func TestNetworkAfterDaemonKill(t *testing.T) {
	e := newEnv(t)
	e.needPrivateDaemon(t)
	e.d.args = append(e.d.args, "--live-restore=false")
	port := randomPort()
	n := name("killed")
	e.mustDocker(t, append([]string{"run", "-d", "--name", n, "-p", port + ":80"}, httpd("before")...)...)
	e.waitHTTP(t, "http://127.0.0.1:"+port+"/", "before")
	e.killDaemon(t)
	if len(e.dnatRules(t, port)) == 0 {
		t.Log("no DNAT rule survived the kill; nothing to clean up")
	}
	e.startDaemon(t)
	if rules := e.dnatRules(t, port); len(rules) > 0 {
		t.Errorf("stale DNAT rules after restart:\n%s", strings.Join(rules, "\n"))
	}
	n2 := name("after")
	e.mustDocker(t, append([]string{"run", "-d", "--name", n2, "-p", port + ":80"}, httpd("after")...)...)
	e.waitHTTP(t, "http://127.0.0.1:"+port+"/", "after")
	// The old container's port is n2's now: it must not start.
	if r := e.docker(t, "start", n); r.Code == 0 || !strings.Contains(r.Stderr, port) {
		t.Errorf("start of a container whose port is taken:\n%s\nwant an error naming port %s", r, port)
	}
	if got := e.inspectField(t, n, "{{.State.Running}}"); got != "false" {
		t.Errorf("the old container started on a port in use")
	}
}

// TestNetworkContainerMode: --network container:<name> shares the other
// container's namespace: same address, its hosts file.
func TestNetworkContainerMode(t *testing.T) {
	e := newEnv(t)
	n := name("owner")
	e.mustDocker(t, append([]string{"run", "-d", "--name", n}, httpd("shared")...)...)
	ip := e.inspectField(t, n, "{{.NetworkSettings.IPAddress}}")
	out := e.mustDocker(t, "run", "--rm", "--network", "container:"+n, "busybox", "sh", "-c",
		"ip -4 -o addr show eth0; for i in 1 2 3 4 5 6 7 8 9 10; do timeout 3 wget -q -O- http://127.0.0.1/ && exit 0; sleep 0.3; done; exit 1")
	if !strings.Contains(out, "inet "+ip+"/") || !strings.Contains(out, "shared") {
		t.Errorf("in container:%s:\n%s\nwant its address %s and its web server on localhost", n, out, ip)
	}
}

// TestPythonSDKPorts: the SDK's ports= and attrs as scripts read them.
func TestPythonSDKPorts(t *testing.T) {
	e := newEnv(t)
	port := randomPort()
	r := e.python(t, `
import sys, docker
c = docker.from_env()
port = int(sys.argv[1])
ctr = c.containers.run("busybox", ["sh", "-c", "mkdir -p /www && echo sdk > /www/index.html && exec httpd -f -p 80 -h /www"],
                       detach=True, ports={"80/tcp": port})
try:
    ctr.reload()
    ns = ctr.attrs["NetworkSettings"]
    assert ns["IPAddress"], ns
    assert ns["Ports"]["80/tcp"][0]["HostPort"] == str(port), ns["Ports"]
    assert ctr.ports["80/tcp"][0]["HostPort"] == str(port)
    print("ok")
finally:
    ctr.remove(force=True)
`, port)
	if r.Code != 0 || r.Stdout != "ok\n" {
		t.Errorf("python SDK ports:\n%s", r)
	}
	e.waitHTTPGone(t, port)
}

// waitHTTPGone checks that nothing answers on the port any more.
func (e *env) waitHTTPGone(t *testing.T, port string) {
	t.Helper()
	poll(t, 10*time.Second, "port "+port+" closed", func() (bool, string) {
		r := e.inDaemonNet(t, "curl", "-sS", "--max-time", "1", "http://127.0.0.1:"+port+"/")
		return r.Code != 0, r.String()
	})
}

// TestNetworkExtraHostsAndLinks: --add-host (host-gateway is the default
// bridge's gateway) and legacy links write /etc/hosts lines.
func TestNetworkExtraHostsAndLinks(t *testing.T) {
	e := newEnv(t)
	db := name("db")
	e.mustDocker(t, "run", "-d", "--name", db, "--expose", "6379", "-e", "DBPASS=secret", "busybox", "sleep", "600")
	dbIP := e.inspectField(t, db, "{{.NetworkSettings.IPAddress}}")
	gw := e.inspectField(t, db, "{{.NetworkSettings.Gateway}}")
	hostname := e.inspectField(t, db, "{{.Config.Hostname}}")
	out := e.mustDocker(t, "run", "--rm", "--add-host", "foo:1.2.3.4", "--add-host", "gw:host-gateway",
		"--link", db+":mydb", "busybox", "cat", "/etc/hosts")
	for _, want := range []string{"1.2.3.4\tfoo\n", gw + "\tgw\n", dbIP + "\tmydb " + hostname + " " + db + "\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("/etc/hosts:\n%s\nwant a line %q", out, want)
		}
	}
	// The legacy link variables, as dockerd sets them (moby's daemon/links).
	web := name("web")
	out = e.mustDocker(t, "run", "--rm", "--name", web, "--link", db+":my-db", "busybox", "env")
	for _, want := range []string{
		"MY_DB_NAME=/" + web + "/my-db\n", "MY_DB_PORT=tcp://" + dbIP + ":6379\n",
		"MY_DB_PORT_6379_TCP_ADDR=" + dbIP + "\n", "MY_DB_PORT_6379_TCP_PROTO=tcp\n", "MY_DB_ENV_DBPASS=secret\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("env with --link %s:my-db:\n%s\nwant %q", db, out, want)
		}
	}
	if strings.Contains(out, "MY_DB_ENV_PATH=") {
		t.Errorf("env with --link %s:my-db:\n%s\nwant no MY_DB_ENV_PATH", db, out)
	}
	out = e.mustDocker(t, "run", "--rm", "--network", "host", "--add-host", "foo:1.2.3.4", "busybox", "cat", "/etc/hosts")
	if !strings.Contains(out, "1.2.3.4\tfoo") {
		t.Errorf("/etc/hosts in host mode:\n%s\nwant a line for foo", out)
	}
	if r := e.docker(t, "run", "--rm", "--add-host", "foo:bar", "busybox", "true"); r.Code == 0 || !strings.Contains(r.Stderr, "invalid IP address in add-host") {
		t.Errorf("--add-host foo:bar:\n%s\nwant invalid IP address", r)
	}
	e.mustDocker(t, "stop", "-t", "0", db)
	if r := e.docker(t, "run", "--rm", "--link", db+":mydb", "busybox", "true"); r.Code == 0 || !strings.Contains(r.Stderr, "Cannot link to a non running container") {
		t.Errorf("--link to a stopped container:\n%s\nwant an error", r)
	}
}

// TestPortRange: the docker CLI expands -p 8000-8001:80-81 into one
// binding per port, and sends -p 8000-8001:80 as a host range, served by
// its first free port.
func TestPortRange(t *testing.T) {
	e := newEnv(t)
	first, _ := strconv.Atoi(randomPort())
	p0, p1 := strconv.Itoa(first), strconv.Itoa(first+1)
	n := name("pair")
	e.mustDocker(t, "run", "-d", "--name", n, "-p", p0+"-"+p1+":80-81", "busybox", "sleep", "600")
	if got := lines(strings.TrimSpace(e.mustDocker(t, "port", n))); !slices.Equal(got, []string{"80/tcp -> 0.0.0.0:" + p0, "81/tcp -> 0.0.0.0:" + p1}) {
		t.Errorf("docker port %s = %q, want 80 on %s and 81 on %s", n, got, p0, p1)
	}
	e.mustDocker(t, "rm", "-f", n)

	taker := name("taker")
	e.mustDocker(t, "run", "-d", "--name", taker, "-p", p0+":80", "busybox", "sleep", "600")
	ranged := name("ranged")
	e.mustDocker(t, append([]string{"run", "-d", "--name", ranged, "-p", p0 + "-" + p1 + ":80"}, httpd("ranged")...)...)
	if got := strings.TrimSpace(e.mustDocker(t, "port", ranged, "80")); got != "0.0.0.0:"+p1 {
		t.Errorf("docker port %s 80 = %q, want 0.0.0.0:%s, the first free port of the range", ranged, got, p1)
	}
	e.waitHTTP(t, "http://127.0.0.1:"+p1+"/", "ranged")
	if r := e.docker(t, "run", "--rm", "-p", p0+"-"+p1+":80", "busybox", "true"); r.Code == 0 || !strings.Contains(r.Stderr, "port is already allocated") {
		t.Errorf("a third container on the full range:\n%s\nwant port is already allocated", r)
	}
}

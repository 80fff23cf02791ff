package integration

import (
	"bufio"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestRedisExample is the README's main job end to end: a debian:bookworm
// base made by mmdebstrap, the Redis example built (its RUN reaches Debian's
// mirror through the bridge's NAT), run with a published port, PING from the
// host answered PONG, a fully cached rebuild, and no rule left after rm.
// Its gantryd runs in the host's network namespace, as a user's would.
func TestRedisExample(t *testing.T) {
	if c, err := net.DialTimeout("tcp", "deb.debian.org:80", 5*time.Second); err != nil {
		t.Skipf("the Debian mirror deb.debian.org cannot be reached (%v): the example's RUN installs redis-server from it", err)
	} else {
		c.Close()
	}
	out, err := exec.Command("../scripts/debian-base.sh").Output()
	if err != nil {
		t.Skipf("no debian:bookworm base: scripts/debian-base.sh failed (%v); it needs mmdebstrap and the mirror", err)
	}
	base := strings.TrimSpace(string(out))
	e := newHostNetEnv(t)
	e.mustDocker(t, "import", "-c", `CMD ["bash"]`, base, "debian:bookworm")
	img := "gt-example/redis:" + randHex(4)
	t.Cleanup(func() { e.docker(t, "rmi", img) })
	e.mustDocker(t, "build", "-t", img, "../examples/redis")

	port := freeTCPPort(t)
	ctr := name("redis")
	e.mustDocker(t, "run", "-d", "--name", ctr, "-p", fmt.Sprintf("%d:6379", port), img)
	t.Cleanup(func() { e.docker(t, "rm", "-f", ctr) })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	poll(t, 10*time.Second, "redis PONG on "+addr, func() (bool, string) {
		reply, err := redisPing(addr)
		return reply == "+PONG", fmt.Sprintf("reply %q, error %v", reply, err)
	})

	rebuild := e.mustDocker(t, "build", "-t", img, "../examples/redis")
	if strings.Contains(rebuild, "Running in") || !strings.Contains(rebuild, "Using cache") {
		t.Errorf("the rebuild was not fully cached:\n%s", rebuild)
	}

	e.mustDocker(t, "rm", "-f", ctr)
	rules, err := exec.Command("iptables-save").Output()
	if err != nil {
		t.Fatalf("iptables-save: %v", err)
	}
	if p := fmt.Sprintf("--dport %d ", port); strings.Contains(string(rules), p) {
		t.Errorf("a rule for port %d is left after rm:\n%s", port, rules)
	}
	if _, err := redisPing(addr); err == nil {
		t.Errorf("%s still answers after rm", addr)
	}
}

// redisPing sends PING in Redis's protocol and returns the reply line.
func redisPing(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

// freeTCPPort returns a port nothing listens on now.
func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Command agentls lists the keys of an SSH agent as ssh-add -l does (the
// SHA256 fingerprints), for build steps in images without ssh-add.
//
//	agentls [-n N] [socket]
//
// The socket is $SSH_AUTH_SOCK unless given. With -n, N connections list
// the keys at once, and the fingerprints of the first are printed after
// "ok N" (how many succeeded).
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

func list(sock string) ([]string, error) {
	c, err := net.Dial("unix", sock)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	keys, err := agent.NewClient(c).List()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, k := range keys {
		pk, err := ssh.ParsePublicKey(k.Blob)
		if err != nil {
			return nil, err
		}
		out = append(out, ssh.FingerprintSHA256(pk))
	}
	return out, nil
}

func main() {
	n := flag.Int("n", 0, "connections at once")
	flag.Parse()
	sock := os.Getenv("SSH_AUTH_SOCK")
	if flag.NArg() > 0 {
		sock = flag.Arg(0)
	}
	if *n == 0 {
		fps, err := list(sock)
		if err != nil {
			fmt.Fprintln(os.Stderr, "agentls:", err)
			os.Exit(2)
		}
		for _, fp := range fps {
			fmt.Println(fp)
		}
		return
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := 0; i < *n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if fps, err := list(sock); err == nil && len(fps) > 0 {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	fmt.Println("ok", ok)
}

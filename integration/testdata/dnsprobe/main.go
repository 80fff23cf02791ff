// Command dnsprobe asks a container's DNS server (127.0.0.11:53) questions
// from inside the container, for the tests and bench/dns.sh:
//
//	dnsprobe flood SECONDS NAME      as fast as it can send, without waiting
//	dnsprobe latency COUNT NAME      one a millisecond; the median round trip
//	dnsprobe rate QPS SECONDS NAME   at a steady rate, one at a time each
//
// It prints one line of key=value pairs.
package main

import (
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/miekg/dns"
)

const server = "127.0.0.11:53"

func main() {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: dnsprobe flood SECONDS NAME | latency COUNT NAME | rate QPS SECONDS NAME")
		os.Exit(2)
	}
	n, err := strconv.Atoi(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	switch os.Args[1] {
	case "flood":
		flood(time.Duration(n)*time.Second, os.Args[3])
	case "latency":
		latency(n, os.Args[3])
	case "rate":
		secs, _ := strconv.Atoi(os.Args[3])
		rate(n, time.Duration(secs)*time.Second, os.Args[4])
	}
}

func query(name string) []byte {
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), dns.TypeA)
	b, _ := q.Pack()
	return b
}

// flood sends for d and counts the answers.
func flood(d time.Duration, name string) {
	conn, err := net.Dial("udp4", server)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	answered := 0
	done := make(chan struct{})
	go func() {
		buf := make([]byte, 512)
		for {
			if _, err := conn.Read(buf); err != nil {
				close(done)
				return
			}
			answered++
		}
	}()
	q := query(name)
	sent := 0
	for end := time.Now().Add(d); time.Now().Before(end); {
		conn.Write(q)
		sent++
	}
	time.Sleep(200 * time.Millisecond)
	conn.Close()
	<-done
	fmt.Printf("sent=%d answered=%d\n", sent, answered)
}

// ask is one question, one at a time: its round trip, or an error.
func ask(c *dns.Client, name string) (time.Duration, error) {
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), dns.TypeA)
	start := time.Now()
	m, _, err := c.Exchange(q, server)
	if err != nil {
		return 0, err
	}
	if m.Rcode != dns.RcodeSuccess || len(m.Answer) == 0 {
		return 0, fmt.Errorf("%s", dns.RcodeToString[m.Rcode])
	}
	return time.Since(start), nil
}

func latency(count int, name string) {
	c := &dns.Client{Timeout: 2 * time.Second}
	var rtts []time.Duration
	failed := 0
	for range count {
		time.Sleep(time.Millisecond) // under the server's rate limit
		d, err := ask(c, name)
		if err != nil {
			failed++
			continue
		}
		rtts = append(rtts, d)
	}
	slices.Sort(rtts)
	var median, p90 time.Duration
	if len(rtts) > 0 {
		median, p90 = rtts[len(rtts)/2], rtts[len(rtts)*9/10]
	}
	fmt.Printf("ok=%d failed=%d median_us=%d p90_us=%d\n", len(rtts), failed, median.Microseconds(), p90.Microseconds())
}

// rate asks qps questions a second for d, one at a time, the i-th at
// start + i/qps (at once when behind), and counts the answers.
func rate(qps int, d time.Duration, name string) {
	c := &dns.Client{Timeout: time.Second}
	ok, failed := 0, 0
	start := time.Now()
	interval := time.Second / time.Duration(qps)
	for i := 0; ; i++ {
		next := start.Add(time.Duration(i) * interval)
		if next.Sub(start) >= d {
			break
		}
		time.Sleep(time.Until(next))
		if _, err := ask(c, name); err != nil {
			failed++
		} else {
			ok++
		}
	}
	fmt.Printf("ok=%d failed=%d achieved_qps=%.0f\n", ok, failed, float64(ok+failed)/time.Since(start).Seconds())
}

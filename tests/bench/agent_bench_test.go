package bench

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/agent"
	"github.com/tls-authority/tls-authority/tests/artifacts"
	"github.com/tls-authority/tls-authority/tests/container"
)

// Goals of the agent's benchmark (issue #12): on loopback, with 10,000 inventory entries.
const (
	goalCAReqPerSec = 20000
	goalCAP99       = 5 * time.Millisecond
	goalMetricsP99  = 50 * time.Millisecond
	goalRSSMiB      = 30
	// Bounds on the agent's own CPU, about 1.4× what it spends on the 2-core machine (50–58 µs per /ca.pem request,
	// 10–16 ms per scrape): above them, something in the agent got slower.
	maxCACPUPerReq   = 80 * time.Microsecond
	maxMetricsCPU    = 25 * time.Millisecond
	agentInventory   = 10000
	agentClients     = 16   // concurrent keep-alive connections
	caPerIteration   = 2000 // /ca.pem requests per b.N
	metricsPerIterat = 10   // /metrics scrapes per b.N
)

// agentFiles writes what the charm pushes: a CA bundle and chain, its CRL, counts and an inventory of n entries
// (100 relations × 10 units × n/1000 certificates each: 1,000 series per certificate metric, at the cap).
func agentFiles(b *testing.B, dir string, n int) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench CA"}, NotBefore: now,
		NotAfter: now.Add(365 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, SubjectKeyId: []byte{1, 2, 3, 4}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		b.Fatal(err)
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	cert, _ := x509.ParseCertificate(der)
	crl, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: now, NextUpdate: now.Add(7 * 24 * time.Hour)}, cert, key)
	if err != nil {
		b.Fatal(err)
	}
	inv := make([]agent.InventoryEntry, 0, n)
	for i := range n {
		inv = append(inv, agent.InventoryEntry{Serial: fmt.Sprintf("%x", 1000+i), Subject: fmt.Sprintf("CN=unit-%d.example", i),
			SANs: []string{fmt.Sprintf("unit-%d.example", i)}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Duration(90*24+i%1000) * time.Hour),
			Relation: fmt.Sprintf("certificates:%d", i%100), Unit: fmt.Sprintf("req-%d/%d", i%100, (i/100)%10)})
	}
	invJSON, _ := json.Marshal(inv)
	files := map[string][]byte{
		agent.CAFile: caPEM, agent.ChainFile: caPEM, agent.CRLFile: crl, agent.InventoryFile: invJSON,
		agent.CountsFile: []byte(`{"issued":10000,"outstanding":0,"refused":0,"revoked":0}`),
		agent.CRLPrefix + hex.EncodeToString(cert.SubjectKeyId) + ".der": crl,
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

// startAgent runs the built agent binary (make image) on a free loopback port, with extra flags.
func startAgent(b *testing.B, dir string, flags ...string) (base string, pid int) {
	image, err := artifacts.Image()
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(container.ImagePath(image, artifacts.AgentPath), append([]string{"--dir", dir, "--listen", addr}, flags...)...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	base = "http://" + addr
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base, cmd.Process.Pid
			}
		}
	}
	b.Fatal("the agent did not become healthy")
	return "", 0
}

// procStatusMiB reads a field (VmRSS, VmHWM) of /proc/<pid>/status in MiB.
func procStatusMiB(b *testing.B, pid int, field string) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				b.Fatal(err)
			}
			return float64(kb) / 1024
		}
	}
	b.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// load makes n GETs of path over c keep-alive connections, one request at a time on each, and returns the wall time
// and each request's latency. Its client is a minimal HTTP/1.1 one (write the request, read the status, headers and
// Content-Length bytes of body), so that on a 2-core machine the load generator takes as little CPU from the agent as
// it can.
func load(b *testing.B, addr, path string, n, c int) (time.Duration, []time.Duration) {
	lat := make([]time.Duration, n)
	var wg sync.WaitGroup
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	errs := make(chan error, c)
	req := []byte("GET " + path + " HTTP/1.1\r\nHost: agent\r\nUser-Agent: bench\r\n\r\n")
	start := time.Now()
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close()
			r := bufio.NewReaderSize(conn, 64<<10)
			for i := range next {
				t0 := time.Now()
				if err := get(conn, r, req); err != nil {
					errs <- fmt.Errorf("GET %s: %w", path, err)
					return
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	return time.Since(start), lat
}

// get sends one request and reads its response: a 200 with a Content-Length.
func get(conn net.Conn, r *bufio.Reader, req []byte) error {
	if _, err := conn.Write(req); err != nil {
		return err
	}
	status, err := r.ReadSlice('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(string(status), "HTTP/1.1 200 ") {
		return fmt.Errorf("status %q", strings.TrimSpace(string(status)))
	}
	length, chunked := -1, false
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		h := strings.ToLower(string(line))
		if v, ok := strings.CutPrefix(h, "content-length:"); ok {
			if length, err = strconv.Atoi(strings.TrimSpace(v)); err != nil {
				return err
			}
		}
		chunked = chunked || strings.HasPrefix(h, "transfer-encoding: chunked")
	}
	if !chunked {
		if length < 0 {
			return fmt.Errorf("neither Content-Length nor chunked")
		}
		_, err = r.Discard(length)
		return err
	}
	for { // a large response (/metrics) is streamed: <hex size>\r\n<data>\r\n ... 0\r\n\r\n
		line, err := r.ReadSlice('\n')
		if err != nil {
			return err
		}
		size, err := strconv.ParseInt(strings.TrimSpace(string(line)), 16, 64)
		if err != nil {
			return fmt.Errorf("bad chunk size %q", line)
		}
		if _, err := r.Discard(int(size) + 2); err != nil {
			return err
		}
		if size == 0 {
			return nil
		}
	}
}

// cpuTime is the CPU a process has used (user and system), from /proc/<pid>/stat.
func cpuTime(b *testing.B, pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name (in parentheses, which may hold spaces): utime and stime are the 12th and 13th.
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ is 100 on Linux
}

func percentile(lat []time.Duration, p float64) time.Duration {
	s := slices.Clone(lat)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// BenchmarkAgent is the workload agent, as its own process on loopback, serving /ca.pem and /metrics with 10,000
// inventory entries: /ca.pem requests per second and p99 latency over 16 keep-alive clients, /metrics median and
// p99 scrape time (one scraper at a time, as Prometheus scrapes), and the agent's RSS after the load and its peak.
// Issue #12's goals are /ca.pem ≥ 20,000 req/s with p99 < 5 ms, /metrics p99 < 50 ms, RSS < 30 MiB. The /ca.pem
// figures are reported against theirs; the benchmark fails on the others, and on the agent's own CPU per request or
// scrape above its bound (issue #10: fail on a regression, exit 0 on an idle machine).
func BenchmarkAgent(b *testing.B) {
	dir := b.TempDir()
	agentFiles(b, dir, agentInventory)
	base, pid := startAgent(b, dir)
	addr := strings.TrimPrefix(base, "http://")
	// Warm up: the files are read and parsed once per version, on first use.
	load(b, addr, "/metrics", 2, 1)
	load(b, addr, "/ca.pem", 1000, agentClients)

	b.ResetTimer()
	var caWall, caCPU, metricsCPU time.Duration
	var caLat, metricsLat []time.Duration
	for range b.N {
		c0 := cpuTime(b, pid)
		wall, lat := load(b, addr, "/ca.pem", caPerIteration, agentClients)
		c1 := cpuTime(b, pid)
		caWall += wall
		caCPU += c1 - c0
		caLat = append(caLat, lat...)
		_, lat = load(b, addr, "/metrics", metricsPerIterat, 1)
		metricsCPU += cpuTime(b, pid) - c1
		metricsLat = append(metricsLat, lat...)
	}
	b.StopTimer()
	reqPerSec := float64(len(caLat)) / caWall.Seconds()
	caP99, mP50, mP99 := percentile(caLat, 0.99), percentile(metricsLat, 0.5), percentile(metricsLat, 0.99)
	rss, hwm := procStatusMiB(b, pid, "VmRSS"), procStatusMiB(b, pid, "VmHWM")
	b.ReportMetric(reqPerSec, "ca-req/s")
	b.ReportMetric(ms(caP99), "ca-p99-ms")
	b.ReportMetric(ms(mP50), "metrics-median-ms")
	b.ReportMetric(ms(mP99), "metrics-p99-ms")
	// The agent's own CPU per request: what the machine's load (the load generator, other processes) does not change.
	caCPUPerReq := caCPU / time.Duration(len(caLat))
	b.ReportMetric(float64(caCPUPerReq.Nanoseconds())/1000, "ca-cpu-us/req")
	b.ReportMetric(ms(metricsCPU/time.Duration(len(metricsLat))), "metrics-cpu-ms/scrape")
	b.ReportMetric(rss, "rss-MiB")
	b.ReportMetric(hwm, "peak-rss-MiB")
	b.Logf("/ca.pem: %d requests, %.0f req/s, p99 %v, agent CPU %v/request; /metrics: %d scrapes, median %v, p99 %v, agent CPU %v/scrape; RSS %.1f MiB (peak %.1f MiB)",
		len(caLat), reqPerSec, caP99, caCPUPerReq, len(metricsLat), mP50, mP99, metricsCPU/time.Duration(len(metricsLat)), rss, hwm)
	// The first run (b.N = 1) only sizes the benchmark: its few samples say nothing of a p99.
	if b.N < 10 {
		return
	}
	// The throughput goals are wall-clock figures of two processes sharing the machine's cores: they are reported,
	// and what fails the benchmark is a regression of what the agent itself spends, which the machine's speed and
	// load barely change, and the goals that hold with room to spare on an idle 2-core machine.
	if reqPerSec < goalCAReqPerSec || caP99 >= goalCAP99 {
		b.Logf("throughput goal missed on this machine: /ca.pem %.0f req/s (goal ≥ %d), p99 %v (goal < %v), at %v of agent CPU per request",
			reqPerSec, goalCAReqPerSec, caP99, goalCAP99, caCPUPerReq)
	}
	metricsCPUPerScrape := metricsCPU / time.Duration(len(metricsLat))
	if caCPUPerReq > maxCACPUPerReq || metricsCPUPerScrape > maxMetricsCPU || mP99 >= goalMetricsP99 || hwm >= goalRSSMiB {
		b.Errorf("regression: /ca.pem agent CPU %v/request (bound %v); /metrics agent CPU %v/scrape (bound %v), p99 %v (goal < %v); peak RSS %.1f MiB (goal < %d)",
			caCPUPerReq, maxCACPUPerReq, metricsCPUPerScrape, maxMetricsCPU, mP99, goalMetricsP99, hwm, goalRSSMiB)
	}
}

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stele-go/stele/internal/store"
	"github.com/stele-go/stele/tests/corpus"
)

// tools are the binaries every test runs, found or built by TestMain.
type tools struct {
	gateway, verifier, signer, natsServer string
	// servers is where startServers runs the servers (servers_test.go).
	servers serverMode
}

// bin is set once by TestMain and only read afterwards.
var bin tools

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "stele-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		if err := setup(dir); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

// setup builds the binaries into dir and finds the servers.
func setup(dir string) error {
	root, err := corpus.ModuleRoot()
	if err != nil {
		return err
	}
	build := exec.Command("go", "build", "-o", dir+string(os.PathSeparator), "./cmd/gateway", "./cmd/verifier", "./cmd/signer")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	bin.gateway = filepath.Join(dir, "gateway")
	bin.verifier = filepath.Join(dir, "verifier")
	bin.signer = filepath.Join(dir, "signer")
	if bin.natsServer, err = findNATSServer(); err != nil {
		return err
	}
	mode, why, err := chooseServers(os.Getenv(EnvServers))
	if err != nil {
		return err
	}
	bin.servers = mode
	announceServers(mode, why)
	// The fault tests run local servers whatever the mode: they signal them.
	if _, err := exec.LookPath("redis-server"); err != nil {
		return fmt.Errorf("redis-server not found on PATH: install it (Debian: apt-get install redis-server, or make tools)")
	}
	return nil
}

const natsServerModule = "github.com/nats-io/nats-server/v2@v2.15.2"

// findNATSServer returns a nats-server of version 2.10 or later (the
// JetStream API the pipeline uses), installing one with go install when
// none is found.
func findNATSServer() (string, error) {
	var tried []string
	candidates := func() []string {
		var c []string
		if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			for _, p := range filepath.SplitList(strings.TrimSpace(string(out))) {
				c = append(c, filepath.Join(p, "bin", "nats-server"))
			}
		}
		if p, err := exec.LookPath("nats-server"); err == nil {
			c = append(c, p)
		}
		return c
	}
	for attempt := 0; attempt < 2; attempt++ {
		for _, path := range candidates() {
			v, err := natsServerVersion(path)
			if err != nil {
				continue
			}
			if v[0] > 2 || (v[0] == 2 && v[1] >= 10) {
				return path, nil
			}
			tried = append(tried, fmt.Sprintf("%s (v%d.%d.%d)", path, v[0], v[1], v[2]))
		}
		if attempt == 0 {
			fmt.Fprintf(os.Stderr, "e2e: no nats-server >= 2.10 found; running go install %s\n", natsServerModule)
			install := exec.Command("go", "install", natsServerModule)
			install.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
			install.Dir = os.TempDir()
			if out, err := install.CombinedOutput(); err != nil {
				return "", fmt.Errorf("no usable nats-server (tried %v) and go install %s failed: %v\n%s", tried, natsServerModule, err, out)
			}
		}
	}
	return "", fmt.Errorf("no nats-server >= 2.10 found (tried %v); run make tools", tried)
}

var versionRE = regexp.MustCompile(`v(\d+)\.(\d+)\.(\d+)`)

func natsServerVersion(path string) ([3]int, error) {
	out, err := exec.Command(path, "--version").CombinedOutput()
	if err != nil {
		return [3]int{}, err
	}
	m := versionRE.FindStringSubmatch(string(out))
	if m == nil {
		return [3]int{}, fmt.Errorf("%s: no version in %q", path, out)
	}
	var v [3]int
	for i := range v {
		v[i], _ = strconv.Atoi(m[i+1])
	}
	return v, nil
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// proc is a child process whose output goes to a log file, shown when the
// test fails.
type proc struct {
	name   string
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
	err    error // valid after exited is closed
}

// startProc starts a child process that is stopped (SIGTERM, then SIGKILL
// after 15 s) when the test ends.
func startProc(t *testing.T, name, path string, args []string, env ...string) *proc {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.stop(t, 15*time.Second)
		if t.Failed() {
			p.dumpLog(t)
		}
	})
	return p
}

// stop sends SIGTERM and waits up to grace for the exit, then kills.
func (p *proc) stop(t *testing.T, grace time.Duration) error {
	select {
	case <-p.exited:
		return p.err
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(grace):
		t.Errorf("%s did not exit within %v of SIGTERM; killing it", p.name, grace)
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	return p.err
}

// kill sends SIGKILL and waits for the exit.
func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

func (p *proc) dumpLog(t *testing.T) {
	data, err := os.ReadFile(p.log)
	if err != nil {
		return
	}
	if len(data) > 8<<10 {
		data = append([]byte("…"), data[len(data)-8<<10:]...)
	}
	t.Logf("--- %s log (%s) ---\n%s", p.name, p.log, data)
}

func (p *proc) output(t *testing.T) string {
	data, err := os.ReadFile(p.log)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// startLocalNATS starts a nats-server process with JetStream on a
// temporary directory and a free port and returns its URL once JetStream
// answers.
func startLocalNATS(t *testing.T) string {
	t.Helper()
	url, _ := startNATSAt(t, "nats-server", freeAddr(t), t.TempDir())
	return url
}

// startNATSAt starts a nats-server with JetStream listening on addr and
// keeping its store in dir, and returns its URL and process once JetStream
// answers. Starting another on the same addr and dir after the first has
// exited is a restart that keeps the streams and their consumers.
func startNATSAt(t *testing.T, name, addr, dir string) (string, *proc) {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	p := startProc(t, name, bin.natsServer, []string{"-a", host, "-p", port, "-js", "-sd", dir, "--server_name", "e2e"})
	url := "nats://" + addr
	waitJetStream(t, url, p)
	return url, p
}

// waitJetStream waits until the nats-server at url answers JetStream
// requests; p, when not nil, is its process, whose exit ends the wait.
func waitJetStream(t *testing.T, url string, p *proc) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := func() error {
			nc, err := nats.Connect(url, nats.Timeout(time.Second))
			if err != nil {
				return err
			}
			defer nc.Close()
			js, err := jetstream.New(nc)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_, err = js.AccountInfo(ctx)
			return err
		}()
		if err == nil {
			return
		}
		if p != nil {
			select {
			case <-p.exited:
				t.Fatalf("nats-server at %s exited before it was ready: %v", url, p.err)
			default:
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats-server at %s not ready: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// client talks to one gateway.
type client struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func newClient(t *testing.T, addr string) *client {
	return &client{t: t, base: "http://" + addr, hc: &http.Client{Timeout: 5 * time.Minute}}
}

// waitReady polls /readyz until it answers 200.
func (c *client) waitReady(p *proc) {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			c.t.Fatalf("%s exited before becoming ready: %v", p.name, p.err)
		default:
		}
		resp, err := c.hc.Get(c.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("gateway at %s not ready within 60s", c.base)
}

func (c *client) do(method, path, contentType string, body io.Reader, want int) []byte {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	if resp.StatusCode != want {
		c.t.Fatalf("%s %s: status %d, want %d: %.500s", method, path, resp.StatusCode, want, data)
	}
	return data
}

// answer is a verify or job answer.
type answer struct {
	store.Job
	Items []store.Result `json:"items"`
	Next  *int           `json:"next"`
}

func (c *client) submit(path, contentType string, body []byte, want int) answer {
	c.t.Helper()
	var a answer
	if err := json.Unmarshal(c.do("POST", path, contentType, bytes.NewReader(body), want), &a); err != nil {
		c.t.Fatal(err)
	}
	return a
}

func (c *client) job(id string) store.Job {
	c.t.Helper()
	var j store.Job
	if err := json.Unmarshal(c.do("GET", "/v1/jobs/"+id, "", nil, 200), &j); err != nil {
		c.t.Fatal(err)
	}
	return j
}

// waitJob polls the job until it completes.
func (c *client) waitJob(id string, timeout time.Duration) store.Job {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		j := c.job(id)
		if j.Status == store.StatusCompleted {
			return j
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("job %s not completed within %v: %+v", id, timeout, j)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// results streams every result of a job, failing on a duplicate index.
func (c *client) results(id string) map[int]store.Result {
	c.t.Helper()
	req, err := http.NewRequest("GET", c.base+"/v1/jobs/"+id+"/results", nil)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Accept", "application/x-ndjson")
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		c.t.Fatalf("results of %s: status %d", id, resp.StatusCode)
	}
	out := map[int]store.Result{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		var r store.Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			c.t.Fatalf("result line %q: %v", sc.Bytes(), err)
		}
		if _, dup := out[r.Index]; dup {
			c.t.Fatalf("job %s: index %d streamed twice", id, r.Index)
		}
		out[r.Index] = r
	}
	if err := sc.Err(); err != nil {
		c.t.Fatal(err)
	}
	return out
}

// failedChecks returns the names of a result's failed checks.
func failedChecks(r store.Result) []string {
	var out []string
	for _, ch := range r.Checks {
		if !ch.Passed {
			out = append(out, ch.Name)
		}
	}
	return out
}

// once caches values computed by the first test that needs them.
type once[T any] struct {
	once sync.Once
	v    T
	err  error
}

func (o *once[T]) get(t *testing.T, f func() (T, error)) T {
	t.Helper()
	o.once.Do(func() { o.v, o.err = f() })
	if o.err != nil {
		t.Fatal(o.err)
	}
	return o.v
}

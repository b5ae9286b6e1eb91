// Package redistest starts isolated Redis servers for tests: a single node
// (Start, StartServer), a multi-node Redis Cluster (StartCluster) and a
// primary watched by Redis Sentinel (StartSentinel).
//
// Each server is a redis-server child process on a free loopback port with
// persistence off and its working directory in a temporary folder; it is
// stopped by t.Cleanup, so tests never touch a Redis they did not start.
// Setting STELE_TEST_REDIS_URL makes Start return that URL instead; tests
// sharing a server then keep apart by using KeyPrefix, and nothing here ever
// flushes a database.
//
// redis-server must be on PATH (Debian: apt-get install redis-server), and
// redis-cli too for a multi-node cluster (Debian: apt-get install
// redis-tools); when one is not, the test fails with a message saying so
// rather than skipping.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stele-go/stele/internal/testutil/syncbuf"
)

// EnvURL names the environment variable that points tests at an existing
// Redis server instead of a child process.
const EnvURL = "STELE_TEST_REDIS_URL"

// Options tune a test server. The zero value is a plain single-node server.
type Options struct {
	// Cluster starts the server in cluster mode as a one-node cluster that
	// owns all 16384 slots. Redis still refuses multi-key commands and
	// scripts whose keys fall in different slots, so this checks a key layout
	// for Redis Cluster without a multi-node set-up.
	Cluster bool
	// Binary is the redis-server executable; "redis-server" from PATH when
	// empty.
	Binary string
	// ReplicaOf, when set (host:port), starts the server as a replica of
	// that one.
	ReplicaOf string
}

// Server is a running redis-server child process.
type Server struct {
	// Addr is the host:port the server listens on.
	Addr string
	// Cluster reports whether the server runs in cluster mode.
	Cluster bool

	// join: a node of a multi-node cluster, whose slots are assigned when
	// the cluster is formed (LaunchCluster), not by waitReady.
	join   bool
	cmd    *exec.Cmd
	dir    string
	exited chan struct{}
	output *syncbuf.Buffer
	once   sync.Once
}

// URL returns the server's redis:// URL.
func (s *Server) URL() string { return "redis://" + s.Addr }

// Start returns the URL of a fresh single-node server, or the value of
// STELE_TEST_REDIS_URL when set.
func Start(t testing.TB) string {
	t.Helper()
	if u := os.Getenv(EnvURL); u != "" {
		return u
	}
	return StartServer(t, Options{}).URL()
}

// StartServer starts a redis-server child with opts (ignoring
// STELE_TEST_REDIS_URL) and stops it at cleanup. It fails the test when the
// server cannot be started.
func StartServer(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := Launch(opts)
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// KeyPrefix returns a key prefix unique to this call ("stele-test-<random>:"),
// for tests that may share a server.
func KeyPrefix(t testing.TB) string {
	t.Helper()
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("redistest: random prefix: %v", err)
	}
	return "stele-test-" + hex.EncodeToString(b[:]) + ":"
}

// Launch starts a redis-server child and waits until it answers (and, in
// cluster mode, until the cluster is ready). The caller must call Stop. It is
// the form for TestMain and examples, which have no testing.TB.
func Launch(opts Options) (*Server, error) {
	path, err := lookPath(opts.Binary, "redis-server", "redis-server", ", or set "+EnvURL+" to an existing server")
	if err != nil {
		return nil, err
	}
	return launchRetrying(path, opts, false)
}

// lookPath finds bin, or def when bin is empty, on PATH; the error names the
// Debian package that has it, and what else may be done (hint).
func lookPath(bin, def, pkg, hint string) (string, error) {
	if bin == "" {
		bin = def
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		return "", fmt.Errorf("%s not found on PATH (install it, e.g. apt-get install %s%s): %w", bin, pkg, hint, err)
	}
	return path, nil
}

// launchRetrying is launch, tried again a few times: a free port can be
// taken between probing and binding.
func launchRetrying(path string, opts Options, join bool) (*Server, error) {
	var lastErr error
	for range 5 {
		s, err := launch(path, opts, join)
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func launch(path string, opts Options, join bool) (*Server, error) {
	ports, err := freePorts(2) // the server's and, in cluster mode, its bus's
	if err != nil {
		return nil, err
	}
	port := ports[0]
	dir, err := os.MkdirTemp("", "redistest-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	args := []string{
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--dir", dir,
		"--save", "",
		"--appendonly", "no",
		"--protected-mode", "no",
		"--loglevel", "warning",
		// A replica's first sync starts at once, not after the default 5 s
		// of waiting for more replicas.
		"--repl-diskless-sync-delay", "0",
	}
	if opts.ReplicaOf != "" {
		host, port, err := net.SplitHostPort(opts.ReplicaOf)
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("replica of %q: %w", opts.ReplicaOf, err)
		}
		args = append(args, "--replicaof", host, port)
	}
	if opts.Cluster {
		// An explicit bus port: the default, port+10000, is out of range
		// for ephemeral ports above 55535, and may be taken.
		args = append(args,
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-port", strconv.Itoa(ports[1]),
		)
	}
	s := &Server{
		Addr:    net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Cluster: opts.Cluster,
		join:    join,
	}
	if err := s.start(path, args, dir); err != nil {
		return nil, err
	}
	if err := s.waitReady(); err != nil {
		s.Stop()
		return nil, fmt.Errorf("redis-server on port %d: %w (output: %q)", port, err, s.output.String())
	}
	return s, nil
}

// start runs path with args in the background, its output kept in s.output,
// and takes over dir (removed by Stop). When it fails it removes dir.
func (s *Server) start(path string, args []string, dir string) error {
	s.dir = dir
	s.exited = make(chan struct{})
	s.output = &syncbuf.Buffer{Max: 64 << 10} // the child's output, for error messages
	s.cmd = exec.Command(path, args...)
	s.cmd.Dir = dir
	s.cmd.Stdout = s.output
	s.cmd.Stderr = s.output
	dieWithParent(s.cmd)
	if err := s.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return fmt.Errorf("start %s: %w", path, err)
	}
	go func() {
		s.cmd.Wait()
		close(s.exited)
	}()
	return nil
}

// Output returns what the server wrote to stdout and stderr so far (its log
// at level warning; the first 64 KiB).
func (s *Server) Output() string { return s.output.String() }

func (s *Server) waitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	// Wait for the port first: a go-redis client dialing a port nobody
	// listens on yet retries with backoff and logs every failure.
	for {
		conn, err := net.DialTimeout("tcp", s.Addr, time.Second)
		if err == nil {
			conn.Close()
			break
		}
		select {
		case <-s.exited:
			return errors.New("exited before it was ready")
		case <-ctx.Done():
			return fmt.Errorf("not listening after 15s: %w", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1, DialTimeout: time.Second})
	defer c.Close()
	ready := func() error {
		if err := c.Ping(ctx).Err(); err != nil {
			return err
		}
		if !s.Cluster || s.join {
			return nil
		}
		info, err := c.ClusterInfo(ctx).Result()
		if err != nil {
			return err
		}
		if strings.Contains(info, "cluster_state:ok") {
			return nil
		}
		if strings.Contains(info, "cluster_slots_assigned:0") {
			if err := c.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", "0", "16383").Err(); err != nil {
				return fmt.Errorf("assign slots: %w", err)
			}
		}
		return errors.New("cluster not ready")
	}
	for {
		err := ready()
		if err == nil {
			return nil
		}
		select {
		case <-s.exited:
			return errors.New("exited before it was ready")
		case <-ctx.Done():
			return fmt.Errorf("not ready after 15s: %w", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Stop terminates the server and removes its directory; calling it again is
// harmless.
func (s *Server) Stop() {
	s.once.Do(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(5 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
		os.RemoveAll(s.dir)
	})
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		defer l.Close() // held until all are found, so they differ
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}

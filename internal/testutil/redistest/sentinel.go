package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SentinelOptions tune a Sentinel set-up. The zero value is one primary
// watched by one sentinel under the master name "mymaster".
type SentinelOptions struct {
	// MasterName is the name the sentinel monitors the primary under;
	// "mymaster" when empty.
	MasterName string
	// Replicas is the number of replicas of the primary; a fail-over needs
	// at least one.
	Replicas int
	// Binary is the redis-server executable, run with --sentinel for the
	// sentinel; "redis-server" from PATH when empty.
	Binary string
}

// Sentinel is a primary, its replicas and one sentinel process monitoring
// them, all children of the test.
type Sentinel struct {
	// Addr is the sentinel's host:port.
	Addr string
	// MasterName is the name the sentinel knows the primary by.
	MasterName string
	// Primary is the current primary and Replicas its replicas; Failover
	// swaps them.
	Primary  *Server
	Replicas []*Server

	proc *Server // the sentinel
	once sync.Once
}

// URL returns the sentinel's redis:// URL with the master_name parameter, the
// form redisstore.NewClient reads as Sentinel.
func (s *Sentinel) URL() string {
	return "redis://" + s.Addr + "?master_name=" + url.QueryEscape(s.MasterName)
}

// Output returns the sentinel's output (its log) and that of the servers,
// each under a header naming it.
func (s *Sentinel) Output() string {
	var b strings.Builder
	if s.proc != nil {
		fmt.Fprintf(&b, "--- sentinel %s:\n%s", s.Addr, s.proc.Output())
	}
	for _, n := range append([]*Server{s.Primary}, s.Replicas...) {
		if n != nil {
			fmt.Fprintf(&b, "--- server %s:\n%s", n.Addr, n.Output())
		}
	}
	return b.String()
}

// StartSentinel starts a Sentinel set-up with opts (ignoring
// STELE_TEST_REDIS_URL) and stops it at cleanup. It fails the test when the
// set-up cannot be started.
func StartSentinel(t testing.TB, opts SentinelOptions) *Sentinel {
	t.Helper()
	s, err := LaunchSentinel(opts)
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// LaunchSentinel starts a primary, opts.Replicas replicas of it and one
// sentinel monitoring the primary (quorum 1), and waits until the replicas
// are in sync and the sentinel sees the primary and every replica up. The
// caller must call Stop. It is the form for TestMain, which has no
// testing.TB.
func LaunchSentinel(opts SentinelOptions) (*Sentinel, error) {
	name := opts.MasterName
	if name == "" {
		name = "mymaster"
	}
	if strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r == '"' || r == '\'' || r >= 0x7f }) {
		return nil, fmt.Errorf("master name %q: want printable ASCII without spaces or quotes", name)
	}
	path, err := lookPath(opts.Binary, "redis-server", "redis-server", "")
	if err != nil {
		return nil, err
	}
	s := &Sentinel{MasterName: name}
	s.Primary, err = launchRetrying(path, Options{}, false)
	if err != nil {
		return nil, fmt.Errorf("sentinel's primary: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for range opts.Replicas {
		r, err := launchRetrying(path, Options{ReplicaOf: s.Primary.Addr}, false)
		if err != nil {
			s.Stop()
			return nil, fmt.Errorf("sentinel's replica: %w", err)
		}
		s.Replicas = append(s.Replicas, r)
		if err := waitSynced(ctx, r, s.Primary.Addr); err != nil {
			err = fmt.Errorf("replica %s of %s: %w\n%s", r.Addr, s.Primary.Addr, err, s.Output())
			s.Stop()
			return nil, err
		}
	}
	var lastErr error
	for range 5 { // the sentinel's port may be taken between probing and binding
		if lastErr = s.launchSentinel(path); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		s.Stop()
		return nil, lastErr
	}
	if err := s.waitReady(ctx); err != nil {
		err = fmt.Errorf("sentinel %s: %w\n%s", s.Addr, err, s.Output())
		s.Stop()
		return nil, err
	}
	return s, nil
}

// launchSentinel starts the sentinel process on a free port with a config
// file of its own (a sentinel rewrites it) and waits until it answers.
func (s *Sentinel) launchSentinel(path string) error {
	ports, err := freePorts(1)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "redistest-sentinel-")
	if err != nil {
		return fmt.Errorf("temp dir: %w", err)
	}
	host, port, _ := net.SplitHostPort(s.Primary.Addr)
	// down-after-milliseconds stays long: a primary slow to answer under
	// a loaded test machine must not be failed over; Failover forces one.
	conf := fmt.Sprintf(`port %d
bind 127.0.0.1
protected-mode no
dir %s
loglevel warning
sentinel monitor %[3]s %[4]s %[5]s 1
sentinel down-after-milliseconds %[3]s 30000
sentinel failover-timeout %[3]s 30000
`, ports[0], dir, s.MasterName, host, port)
	confPath := filepath.Join(dir, "sentinel.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		os.RemoveAll(dir)
		return fmt.Errorf("sentinel config: %w", err)
	}
	p := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))}
	if err := p.start(path, []string{confPath, "--sentinel"}, dir); err != nil {
		return err
	}
	if err := p.waitReady(); err != nil {
		p.Stop()
		return fmt.Errorf("sentinel on port %d: %w (output: %q)", ports[0], err, p.Output())
	}
	s.proc, s.Addr = p, p.Addr
	return nil
}

// waitReady waits until the sentinel reports the primary and every replica
// up and connected.
func (s *Sentinel) waitReady(ctx context.Context) error {
	sc := redis.NewSentinelClient(&redis.Options{Addr: s.Addr, MaxRetries: -1, DialTimeout: time.Second})
	defer sc.Close()
	ready := func() error {
		m, err := sc.Master(ctx, s.MasterName).Result()
		if err != nil {
			return err
		}
		if addr := net.JoinHostPort(m["ip"], m["port"]); addr != s.Primary.Addr {
			return fmt.Errorf("primary %s, want %s", addr, s.Primary.Addr)
		}
		if m["flags"] != "master" {
			return fmt.Errorf("primary flags %q", m["flags"])
		}
		reps, err := sc.Replicas(ctx, s.MasterName).Result()
		if err != nil {
			return err
		}
		up := 0
		for _, r := range reps {
			if r["flags"] == "slave" && r["master-link-status"] == "ok" {
				up++
			}
		}
		if up != len(s.Replicas) {
			return fmt.Errorf("%d of %d replicas up: %v", up, len(s.Replicas), reps)
		}
		return nil
	}
	for {
		err := ready()
		if err == nil {
			return nil
		}
		select {
		case <-s.proc.exited:
			return errors.New("exited before it was ready")
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w (last: %v)", ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// waitSynced waits until the replica r reports its link to the primary at
// addr up.
func waitSynced(ctx context.Context, r *Server, addr string) error {
	_, port, _ := net.SplitHostPort(addr)
	c := redis.NewClient(&redis.Options{Addr: r.Addr, MaxRetries: -1, DialTimeout: time.Second})
	defer c.Close()
	for {
		info, err := c.Info(ctx, "replication").Result()
		if err == nil && strings.Contains(info, "master_port:"+port+"\r\n") && strings.Contains(info, "master_link_status:up") {
			return nil
		}
		select {
		case <-r.exited:
			return errors.New("exited before it synced")
		case <-ctx.Done():
			return fmt.Errorf("not in sync: %w (INFO replication: %q, %v)", ctx.Err(), info, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Failover makes the sentinel promote a replica (SENTINEL FAILOVER, which
// needs no agreement) and waits until the sentinel names it as the primary,
// it reports the role of master and the other replicas follow it. It then
// makes the former primary a replica of the new one at once (the sentinel
// does so too, but only seconds later: until then a client that has not yet
// heard of the switch could write to it, and lose the write when it
// resyncs) and swaps the two in s. It is not safe to call concurrently with
// itself or with reads of Primary and Replicas.
func (s *Sentinel) Failover() (*Server, error) {
	if len(s.Replicas) == 0 {
		return nil, errors.New("fail-over without a replica")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sc := redis.NewSentinelClient(&redis.Options{Addr: s.Addr})
	defer sc.Close()
	old := s.Primary.Addr
	for {
		err := sc.Failover(ctx, s.MasterName).Err()
		if err == nil {
			break
		}
		// A replica the sentinel has not yet judged suitable: try again.
		if !strings.HasPrefix(err.Error(), "NOGOODSLAVE") {
			return nil, fmt.Errorf("SENTINEL FAILOVER %s: %w\n%s", s.MasterName, err, s.Output())
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("SENTINEL FAILOVER %s: %w\n%s", s.MasterName, err, s.Output())
		case <-time.After(100 * time.Millisecond):
		}
	}
	var last string
	for {
		addr, err := sc.GetMasterAddrByName(ctx, s.MasterName).Result()
		if err == nil && len(addr) == 2 {
			if now := net.JoinHostPort(addr[0], addr[1]); now != old {
				for i, r := range s.Replicas {
					if r.Addr != now {
						continue
					}
					if err := waitRole(ctx, r, "master"); err != nil {
						return nil, fmt.Errorf("promoted replica %s: %w\n%s", now, err, s.Output())
					}
					if err := replicaOf(ctx, s.Primary, now); err != nil {
						return nil, fmt.Errorf("former primary %s: %w\n%s", old, err, s.Output())
					}
					s.Replicas[i], s.Primary = s.Primary, r
					for _, o := range s.Replicas {
						if err := waitSynced(ctx, o, now); err != nil {
							return nil, fmt.Errorf("replica %s after the fail-over: %w\n%s", o.Addr, err, s.Output())
						}
					}
					return r, nil
				}
				return nil, fmt.Errorf("the sentinel promoted %s, not a replica of this set-up\n%s", now, s.Output())
			}
		}
		last = fmt.Sprint(addr, err)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("fail-over of %s: the sentinel still names %s: %w\n%s", s.MasterName, last, ctx.Err(), s.Output())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// replicaOf makes s a replica of the server at addr.
func replicaOf(ctx context.Context, s *Server, addr string) error {
	host, port, _ := net.SplitHostPort(addr)
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	defer c.Close()
	return c.ReplicaOf(ctx, host, port).Err()
}

// waitRole waits until the server reports role in INFO replication.
func waitRole(ctx context.Context, s *Server, role string) error {
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer c.Close()
	for {
		info, err := c.Info(ctx, "replication").Result()
		if err == nil && strings.Contains(info, "role:"+role+"\r\n") {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("role is not %s: %w (INFO replication: %q, %v)", role, ctx.Err(), info, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Stop terminates the sentinel, then the servers, and removes their
// directories; calling it again is harmless.
func (s *Sentinel) Stop() {
	s.once.Do(func() {
		if s.proc != nil {
			s.proc.Stop()
		}
		var wg sync.WaitGroup
		for _, n := range append([]*Server{s.Primary}, s.Replicas...) {
			if n != nil {
				wg.Go(n.Stop)
			}
		}
		wg.Wait()
	})
}

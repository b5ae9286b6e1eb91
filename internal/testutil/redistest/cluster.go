package redistest

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// ClusterOptions tune a multi-node cluster. The zero value is three masters
// without replicas.
type ClusterOptions struct {
	// Masters is the number of master nodes, which share the 16384 slots;
	// 3 when zero, the fewest redis-cli accepts.
	Masters int
	// Binary is the redis-server executable; "redis-server" from PATH when
	// empty.
	Binary string
	// CLI is the redis-cli executable that forms the cluster; "redis-cli"
	// from PATH when empty.
	CLI string
}

// Cluster is a running Redis Cluster of redis-server child processes, each
// on its own loopback port with its own directory and cluster config file.
type Cluster struct {
	// Nodes are the masters, in the order their slot ranges were assigned
	// (Nodes[0] owns slot 0, the last node slot 16383).
	Nodes []*Server

	once sync.Once
}

// Addrs returns the nodes' host:port addresses.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr
	}
	return addrs
}

// URL returns a redis+cluster:// URL naming every node as a seed (the first
// in the host, the others as addr parameters), the form
// redisstore.NewClient reads.
func (c *Cluster) URL() string {
	var b strings.Builder
	b.WriteString("redis+cluster://" + c.Nodes[0].Addr)
	for i, n := range c.Nodes[1:] {
		if i == 0 {
			b.WriteString("?")
		} else {
			b.WriteString("&")
		}
		b.WriteString("addr=" + n.Addr)
	}
	return b.String()
}

// Output returns the output of every node, each under a header naming it.
func (c *Cluster) Output() string {
	var b strings.Builder
	for _, n := range c.Nodes {
		fmt.Fprintf(&b, "--- node %s:\n%s", n.Addr, n.Output())
	}
	return b.String()
}

// NodeFor returns the node that owns key's slot, as the nodes themselves
// report it (CLUSTER KEYSLOT and CLUSTER SLOTS), independently of any
// client's routing.
func (c *Cluster) NodeFor(ctx context.Context, key string) (*Server, error) {
	cl := redis.NewClient(&redis.Options{Addr: c.Nodes[0].Addr})
	defer cl.Close()
	slot, err := cl.ClusterKeySlot(ctx, key).Result()
	if err != nil {
		return nil, fmt.Errorf("CLUSTER KEYSLOT %q: %w", key, err)
	}
	ranges, err := cl.ClusterSlots(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("CLUSTER SLOTS: %w", err)
	}
	for _, r := range ranges {
		if int64(r.Start) <= slot && slot <= int64(r.End) && len(r.Nodes) > 0 {
			for _, n := range c.Nodes {
				if n.Addr == r.Nodes[0].Addr {
					return n, nil
				}
			}
			return nil, fmt.Errorf("slot %d of %q belongs to %s, not a node of this cluster", slot, key, r.Nodes[0].Addr)
		}
	}
	return nil, fmt.Errorf("slot %d of %q has no owner", slot, key)
}

// StartCluster starts a cluster with opts (ignoring STELE_TEST_REDIS_URL) and
// stops it at cleanup. It fails the test when the cluster cannot be formed.
func StartCluster(t testing.TB, opts ClusterOptions) *Cluster {
	t.Helper()
	c, err := LaunchCluster(opts)
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(c.Stop)
	return c
}

// LaunchCluster starts opts.Masters redis-server children in cluster mode,
// forms them into one cluster with redis-cli --cluster create (no replicas)
// and waits until every node reports cluster_state:ok and knows all the
// others. The caller must call Stop. It is the form for TestMain, which has
// no testing.TB.
func LaunchCluster(opts ClusterOptions) (*Cluster, error) {
	n := opts.Masters
	if n == 0 {
		n = 3
	}
	if n < 3 {
		return nil, fmt.Errorf("a cluster of %d masters: redis-cli forms clusters of 3 or more", n)
	}
	server, err := lookPath(opts.Binary, "redis-server", "redis-server", "")
	if err != nil {
		return nil, err
	}
	cli, err := lookPath(opts.CLI, "redis-cli", "redis-tools", "")
	if err != nil {
		return nil, err
	}
	c := &Cluster{}
	for range n {
		s, err := launchRetrying(server, Options{Cluster: true}, true)
		if err != nil {
			c.Stop()
			return nil, fmt.Errorf("cluster node: %w", err)
		}
		c.Nodes = append(c.Nodes, s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	cmd := exec.CommandContext(ctx, cli, args...)
	dieWithParent(cmd)
	if out, err := cmd.CombinedOutput(); err != nil {
		err = fmt.Errorf("%s %s: %w\n%s\n%s", cli, strings.Join(args, " "), err, out, c.Output())
		c.Stop()
		return nil, err
	}
	if err := c.waitReady(ctx); err != nil {
		err = fmt.Errorf("cluster %s: %w\n%s", strings.Join(c.Addrs(), " "), err, c.Output())
		c.Stop()
		return nil, err
	}
	return c, nil
}

// waitReady waits until every node reports the cluster ok, with all slots
// assigned and every node known.
func (c *Cluster) waitReady(ctx context.Context) error {
	want := []string{
		"cluster_state:ok",
		"cluster_slots_assigned:16384",
		"cluster_known_nodes:" + strconv.Itoa(len(c.Nodes)),
		"cluster_size:" + strconv.Itoa(len(c.Nodes)),
	}
	for _, n := range c.Nodes {
		cl := redis.NewClient(&redis.Options{Addr: n.Addr, MaxRetries: -1, DialTimeout: time.Second})
		err := func() error {
			defer cl.Close()
			var last string
			for {
				info, err := cl.ClusterInfo(ctx).Result()
				if err != nil {
					last = err.Error()
				} else {
					last = info
					missing := ""
					for _, w := range want {
						if !strings.Contains(info, w+"\r\n") {
							missing = w
							break
						}
					}
					if missing == "" {
						return nil
					}
				}
				select {
				case <-n.exited:
					return fmt.Errorf("node %s exited", n.Addr)
				case <-ctx.Done():
					return fmt.Errorf("node %s not ready: %w; CLUSTER INFO: %s", n.Addr, ctx.Err(), last)
				case <-time.After(20 * time.Millisecond):
				}
			}
		}()
		if err != nil {
			return err
		}
	}
	return nil
}

// Stop terminates every node and removes their directories; calling it again
// is harmless.
func (c *Cluster) Stop() {
	c.once.Do(func() {
		var wg sync.WaitGroup
		for _, n := range c.Nodes {
			wg.Go(n.Stop)
		}
		wg.Wait()
	})
}

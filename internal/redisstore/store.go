// Package redisstore implements store.Store on Redis through go-redis's
// UniversalClient, so a single node, Sentinel and Cluster all work.
//
// # Key layout
//
// With the default prefix "stele:":
//
//	stele:{<jobID>}:job        hash: kind status total done valid invalid failed createdAt completedAt
//	stele:{<jobID>}:results    hash: decimal index -> result (store.AppendStoredResult: compact, or JSON)
//	stele:doc:<id>             string: the document's JSON (no expiry)
//	stele:blob:<sha256 hex>    string: a staged document's bytes (store.Blobs), with the job TTL
//	stele:idx:created          sorted set of document IDs, score = createdAt (Unix ms, 0 if unparseable)
//	stele:idx:issuer:<id>      the same, per issuer ID
//	stele:idx:beneficiary:<id> the same, per beneficiary ID
//	stele:idx:tag:<tag>        the same, per metadata tag (a document's first store.MaxIndexedTags distinct ones)
//	stele:idx:chain:1|0        the same, documents with / without a chain
//	stele:sig:<hex key>        string "1" (valid) or "2" (invalid), with the cache TTL
//	stele:revocations          hash: public key -> revocation JSON
//	stele:signingkeys          hash: key ID -> signing key JSON
//	stele:{announce}:deferred  sorted set: jobs whose completion is still to be announced (announce.go)
//	stele:{queueleases}:*      the queue leases (leases.go)
//
// The two keys of a job share the hash tag {<jobID>}, so they live in one
// Cluster slot and the Lua scripts that update them declare both in KEYS. The
// idx:* sorted sets are written with every document; ListDocuments walks one
// of them (registry.go) to list by issuer, beneficiary, tag, chain presence
// and creation time without scanning.
//
// Job keys expire the job TTL after their last change (PEXPIRE on create and
// on every RecordResults); signature entries the cache TTL after being written.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/stele-go/stele/internal/store"
)

// Store is a store.Store on Redis. It is safe for concurrent use.
type Store struct {
	c       redis.UniversalClient
	opts    options
	cluster bool // multi-key commands must stay within one slot
	owned   bool // Close closes c
	audit   auditLogs

	closeOnce sync.Once
	closeErr  error
}

var _ store.Store = (*Store)(nil)

// New returns a Store using client, which stays the caller's: Close does not
// close it. New adds a hook to client that marks the error replies of a
// server that cannot serve commands for now (LOADING after a restart,
// MASTERDOWN, CLUSTERDOWN, TRYAGAIN, READONLY, BUSY, NOREPLICAS) as
// store.ErrUnavailable.
func New(client redis.UniversalClient, opts ...Option) (*Store, error) {
	if client == nil {
		return nil, fmt.Errorf("redisstore: nil client: %w", store.ErrInvalidOption)
	}
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("redisstore: %w", err)
		}
	}
	_, cluster := client.(*redis.ClusterClient)
	if cluster && o.replicas > 0 {
		return nil, fmt.Errorf("redisstore: waiting for replicas is not available on a Cluster: %w", store.ErrInvalidOption)
	}
	client.AddHook(unavailableHook{})
	return &Store{c: client, opts: o, cluster: cluster}, nil
}

// Open connects to the Redis named by rawURL (see NewClient), checks that it
// answers and returns a Store that owns the connection: Close closes it.
func Open(ctx context.Context, rawURL string, opts ...Option) (*Store, error) {
	c, err := NewClient(rawURL)
	if err != nil {
		return nil, err
	}
	s, err := New(c, opts...)
	if err != nil {
		c.Close()
		return nil, err
	}
	s.owned = true
	if err := s.Ping(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return s, nil
}

// NewClient builds a UniversalClient from a URL:
//
//	redis://[user:pass@]host:port[/db][?options]      one node (rediss:// for TLS)
//	redis://host:port?master_name=NAME[&addr=h:p…]    Sentinel; the hosts are sentinels
//	redis+cluster://host:port[?addr=h:p…]             Cluster seed nodes (rediss+cluster:// for TLS)
//
// The query options are go-redis's (dial_timeout, pool_size, …).
//
// The client honours the deadlines of the contexts it is given
// (go-redis's ContextTimeoutEnabled): a call is over by its context's
// deadline, or by the socket timeouts when those come first. Without it,
// a server that hangs instead of refusing (stopped, or cut off without a
// reset) holds a call until the socket timeouts of every retry have run
// out, whatever its context says: 5 s for a command, 40 s for a pipeline.
func NewClient(rawURL string) (redis.UniversalClient, error) {
	switch {
	case strings.HasPrefix(rawURL, "redis+cluster://"), strings.HasPrefix(rawURL, "rediss+cluster://"):
		o, err := redis.ParseClusterURL(strings.Replace(rawURL, "+cluster", "", 1))
		if err != nil {
			return nil, urlError("cluster URL", err)
		}
		o.ContextTimeoutEnabled = true
		return redis.NewClusterClient(o), nil
	case strings.Contains(rawURL, "master_name="):
		o, err := redis.ParseFailoverURL(rawURL)
		if err != nil {
			return nil, urlError("sentinel URL", err)
		}
		o.ContextTimeoutEnabled = true
		return redis.NewFailoverClient(o), nil
	default:
		o, err := redis.ParseURL(rawURL)
		if err != nil {
			return nil, urlError("URL", err)
		}
		o.ContextTimeoutEnabled = true
		return redis.NewClient(o), nil
	}
}

// urlError is the error of a Redis URL that go-redis refuses. url.Parse's
// errors quote the whole URL, password and all, and callers log what
// NewClient returns: only the reason is kept, and of a bad %-escape (which
// may lie in the password) not even the escape. It wraps
// store.ErrInvalidOption, since no retry mends the URL.
func urlError(what string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
		var esc url.EscapeError
		if errors.As(err, &esc) {
			err = errors.New("invalid URL escape (a '%' not followed by two hex digits)")
		}
	}
	return fmt.Errorf("redisstore: %s: %v: %w", what, err, store.ErrInvalidOption)
}

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redisstore: ping: %w", err)
	}
	return nil
}

// Close closes the client if the Store owns it (Open); a second call is
// harmless.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.audit.close()
		if s.owned {
			s.closeErr = s.c.Close()
		}
	})
	return s.closeErr
}

func (s *Store) jobKey(id string) string     { return s.opts.prefix + "{" + id + "}:job" }
func (s *Store) resultsKey(id string) string { return s.opts.prefix + "{" + id + "}:results" }
func (s *Store) docKey(id string) string     { return s.opts.prefix + "doc:" + id }
func (s *Store) idxKey(parts ...string) string {
	return s.opts.prefix + "idx:" + strings.Join(parts, ":")
}

// perKey sends one command per key, built by cmd, in pipelines of at most
// perKeyBatch commands, and returns the commands in key order. A command's
// own redis.Nil (a GET of a missing key) is left in the command; any other
// pipeline error stops it and is returned. On a Cluster go-redis routes each
// command to its node.
func perKey[C redis.Cmder](ctx context.Context, c redis.UniversalClient, keys []string, cmd func(p redis.Pipeliner, key string) C) ([]C, error) {
	const perKeyBatch = 1000
	cmds := make([]C, 0, len(keys))
	for lo := 0; lo < len(keys); lo += perKeyBatch {
		hi := min(lo+perKeyBatch, len(keys))
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range keys[lo:hi] {
				cmds = append(cmds, cmd(p, k))
			}
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, err
		}
	}
	return cmds, nil
}

// getMany reads string keys in order, nil where absent. On a cluster the keys
// may lie in different slots, so it pipelines single GETs (go-redis routes
// each to its node); otherwise it uses MGET.
func (s *Store) getMany(ctx context.Context, keys []string) ([][]byte, error) {
	const batch = 1000
	out := make([][]byte, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	if s.cluster {
		cmds, err := perKey(ctx, s.c, keys, func(p redis.Pipeliner, k string) *redis.StringCmd { return p.Get(ctx, k) })
		if err != nil {
			return nil, err
		}
		for i, c := range cmds {
			b, err := c.Bytes()
			switch {
			case errors.Is(err, redis.Nil):
			case err != nil:
				return nil, err
			default:
				out[i] = b
			}
		}
		return out, nil
	}
	cmds := make([]*redis.SliceCmd, 0, (len(keys)+batch-1)/batch)
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for lo := 0; lo < len(keys); lo += batch {
			cmds = append(cmds, p.MGet(ctx, keys[lo:min(lo+batch, len(keys))]...))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	i := 0
	for _, c := range cmds {
		for _, v := range c.Val() {
			if v != nil {
				str, ok := v.(string)
				if !ok {
					return nil, fmt.Errorf("unexpected MGET value of type %T", v)
				}
				out[i] = []byte(str)
			}
			i++
		}
	}
	return out, nil
}

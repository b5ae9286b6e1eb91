package redisstore

import (
	"context"
	"encoding/hex"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/stele-go/stele/internal/store"
)

func (s *Store) sigKey(k [32]byte) string {
	return s.opts.prefix + "sig:" + hex.EncodeToString(k[:])
}

// GetSigs looks keys up in the signature cache; see store.SigCache. A value
// other than the two this package writes reads as unknown.
func (s *Store) GetSigs(ctx context.Context, keys [][32]byte) ([]byte, error) {
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = s.sigKey(k)
	}
	vals, err := s.getMany(ctx, names)
	if err != nil {
		return nil, fmt.Errorf("redisstore: get %d signature outcomes: %w", len(keys), err)
	}
	out := make([]byte, len(keys))
	for i, v := range vals {
		if len(v) == 1 && (v[0] == '1' || v[0] == '2') {
			out[i] = v[0] - '0'
		}
	}
	return out, nil
}

// PutSigs records signature outcomes with the cache TTL; see store.SigCache.
func (s *Store) PutSigs(ctx context.Context, keys [][32]byte, valid []bool) error {
	if err := store.CheckSigs(keys, valid); err != nil {
		return fmt.Errorf("redisstore: put signature outcomes: %w", err)
	}
	const batch = 5000
	for lo := 0; lo < len(keys); lo += batch {
		hi := min(lo+batch, len(keys))
		_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			s.queueSigs(ctx, p, keys[lo:hi], valid[lo:hi])
			return nil
		})
		if err != nil {
			return fmt.Errorf("redisstore: put %d signature outcomes: %w", len(keys), err)
		}
	}
	return nil
}

// queueSigs adds to p one SET with the cache TTL per outcome.
func (s *Store) queueSigs(ctx context.Context, p redis.Pipeliner, keys [][32]byte, valid []bool) {
	for i, k := range keys {
		v := "2"
		if valid[i] {
			v = "1"
		}
		p.Set(ctx, s.sigKey(k), v, s.opts.sigTTL)
	}
}

package redisstore

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/stele-go/stele/internal/store"
)

// swapScript sets KEYS[1] to ARGV[2] if it holds ARGV[1]: 1 swapped, 0 a
// different value, -1 absent.
var swapScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if not cur then return -1 end
if cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
`)

// SwapDocument replaces a document's JSON if it is still prev; see
// store.Documents.
func (s *Store) SwapDocument(ctx context.Context, id string, prev, next []byte) error {
	if err := store.CheckID("document", id); err != nil {
		return fmt.Errorf("redisstore: swap document: %w", err)
	}
	if len(prev) == 0 || len(next) == 0 {
		return fmt.Errorf("redisstore: swap document %s: empty JSON: %w", id, store.ErrInvalid)
	}
	n, err := swapScript.Run(ctx, s.c, []string{s.docKey(id)}, prev, next).Int()
	if err != nil {
		return fmt.Errorf("redisstore: swap document %s: %w", id, err)
	}
	switch n {
	case 1:
		return nil
	case -1:
		return fmt.Errorf("redisstore: swap document %s: %w", id, store.ErrNotFound)
	default:
		return fmt.Errorf("redisstore: swap document %s: %w", id, store.ErrConflict)
	}
}

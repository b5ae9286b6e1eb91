package jobs

import (
	"context"
	"reflect"
	"sync"

	"github.com/stele-go/stele/internal/store"
)

// Deferred writes: when the runner's job store can commit a chunk's writes
// together (store.ChunkCommitter), the runner hands the handler a collector
// in the context, and the VerifyHandler puts the documents to keep and the
// signature outcomes it computed there instead of writing them itself, as
// long as they were meant for that same store. The runner then writes them
// with the results in one CommitChunk, so a chunk costs one round trip to
// the store for its writes rather than three or four. The runner still acks
// only after the commit, so a crash before it loses nothing: the redelivered
// chunk is verified again and commits the same writes.

type pendingKey struct{}

// pendingWrites collects the writes a handler defers to the runner.
type pendingWrites struct {
	target store.ChunkCommitter // the store the runner commits to

	mu       sync.Mutex
	docs     []store.Document
	sigKeys  [][32]byte
	sigValid []bool
}

// withPendingWrites returns a context carrying a collector for writes bound
// for target.
func withPendingWrites(ctx context.Context, target store.ChunkCommitter) (context.Context, *pendingWrites) {
	pw := &pendingWrites{target: target}
	return context.WithValue(ctx, pendingKey{}, pw), pw
}

// pendingFor returns the collector of ctx if its writes go to dest, else nil
// (the caller then writes to dest itself).
func pendingFor(ctx context.Context, dest any) *pendingWrites {
	pw, _ := ctx.Value(pendingKey{}).(*pendingWrites)
	if pw == nil || !sameStore(pw.target, dest) {
		return nil
	}
	return pw
}

// sameStore reports whether a and b are the same store value.
func sameStore(a, b any) bool {
	ta, tb := reflect.TypeOf(a), reflect.TypeOf(b)
	return ta != nil && ta == tb && ta.Comparable() && a == b
}

func (pw *pendingWrites) addDocuments(docs []store.Document) {
	pw.mu.Lock()
	pw.docs = append(pw.docs, docs...)
	pw.mu.Unlock()
}

func (pw *pendingWrites) addSigs(keys [][32]byte, valid []bool) {
	pw.mu.Lock()
	pw.sigKeys = append(pw.sigKeys, keys...)
	pw.sigValid = append(pw.sigValid, valid...)
	pw.mu.Unlock()
}

// hasSigs reports whether signature outcomes were deferred: some signature
// of the chunk was not answered by the cache.
func (pw *pendingWrites) hasSigs() bool {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	return len(pw.sigKeys) > 0
}

// writes returns the collected writes with results.
func (pw *pendingWrites) writes(results []store.Result) store.ChunkWrites {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	return store.ChunkWrites{Documents: pw.docs, SigKeys: pw.sigKeys, SigValid: pw.sigValid, Results: results}
}

// deferringCache is the VerifyHandler's signature cache: lookups go to the
// cache, outcomes to the runner's collector when it commits to the cache.
type deferringCache struct {
	c store.SigCache
}

func (d deferringCache) GetSigs(ctx context.Context, keys [][32]byte) ([]byte, error) {
	return d.c.GetSigs(ctx, keys)
}

func (d deferringCache) PutSigs(ctx context.Context, keys [][32]byte, valid []bool) error {
	if pw := pendingFor(ctx, d.c); pw != nil {
		if err := store.CheckSigs(keys, valid); err != nil {
			return err
		}
		pw.addSigs(keys, valid)
		return nil
	}
	return d.c.PutSigs(ctx, keys, valid)
}

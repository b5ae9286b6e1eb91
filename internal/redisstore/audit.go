package redisstore

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/stele-go/stele/internal/core/audit"
	"github.com/stele-go/stele/internal/store"
	"github.com/stele-go/stele/internal/store/auditbatch"
)

// Audit logs. With the default prefix, the log of covenant <id> is
//
//	stele:{audit:<id>}:entries  list: the JSON (audit.Entry.AppendJSON) of the entries not trimmed
//	stele:{audit:<id>}:hashes   string: the hashes of all entries, trimmed or not, 32 raw bytes each
//	stele:{audit:<id>}:ckpt     string: the number of trimmed entries (absent: 0)
//
// The head is derived from the hashes string: its length / 32 and its last
// 32 bytes. The three keys share a hash tag, so every script touching them
// runs in one Cluster slot. Appends are group-committed per covenant by an
// auditbatch.Batcher: one appendScript call writes a batch if the head is
// still the one the batch was built on.

// hashLen is the size of a raw entry hash in the hashes string.
const hashLen = 32

// auditLogs is the Store's audit-log state: the batcher, made on first use
// and stopped by Close.
type auditLogs struct {
	mu   sync.Mutex
	b    *auditbatch.Batcher
	done bool
}

// batcher returns the store's batcher, nil after Close.
func (s *Store) batcher() *auditbatch.Batcher {
	s.audit.mu.Lock()
	defer s.audit.mu.Unlock()
	if s.audit.b == nil && !s.audit.done {
		s.audit.b = auditbatch.New(auditBackend{s})
	}
	return s.audit.b
}

// close stops the batcher; later appends fail with auditbatch.ErrClosed.
func (a *auditLogs) close() {
	a.mu.Lock()
	b := a.b
	a.done = true
	a.mu.Unlock()
	if b != nil {
		b.Close()
	}
}

func (s *Store) auditKeys(id string) []string {
	p := s.opts.prefix + "{audit:" + id + "}:"
	return []string{p + "entries", p + "hashes", p + "ckpt"}
}

// appendScript appends a batch if the head is still the expected one. It
// refuses (STELE_CORRUPT) to append to a log whose entries list does not
// hold exactly the entries from the checkpoint to the head (edited behind
// the store's back): the new entries would land at other positions than
// their indexes, where no read finds them.
//
// KEYS: entries, hashes, ckpt.
// ARGV: expected length, expected last hash (raw, "" for an empty log), the
// new hashes concatenated (raw), then the entries' JSON.
// Returns {1, new length, new last hash} or, when the head moved, {0,
// length, last hash}.
var appendScript = redis.NewScript(`
local n = redis.call('STRLEN', KEYS[2])
if n % 32 ~= 0 then
  return redis.error_reply('STELE_CORRUPT audit hashes of ' .. n .. ' bytes')
end
local last = ''
if n > 0 then
  last = redis.call('GETRANGE', KEYS[2], n - 32, n - 1)
end
if n / 32 ~= tonumber(ARGV[1]) or last ~= ARGV[2] then
  return {0, n / 32, last}
end
local want = n / 32 - tonumber(redis.call('GET', KEYS[3]) or '0')
local have = redis.call('LLEN', KEYS[1])
if have ~= want then
  return redis.error_reply('STELE_CORRUPT audit entries list holds ' .. have .. ' entries, the head and checkpoint say ' .. want)
end
redis.call('APPEND', KEYS[2], ARGV[3])
redis.call('RPUSH', KEYS[1], unpack(ARGV, 4))
return {1, n / 32 + #ARGV - 3, string.sub(ARGV[3], -32)}
`)

// headScript reads the head and the checkpoint.
//
// KEYS: hashes, ckpt.
// Returns {length, last hash, checkpoint length, checkpoint hash} (hashes
// raw, "" when the length is 0).
var headScript = redis.NewScript(`
local n = redis.call('STRLEN', KEYS[1])
local last = ''
if n > 0 then
  last = redis.call('GETRANGE', KEYS[1], n - 32, n - 1)
end
local c = tonumber(redis.call('GET', KEYS[2]) or '0')
local ch = ''
if c > 0 then
  ch = redis.call('GETRANGE', KEYS[1], (c - 1) * 32, c * 32 - 1)
end
return {math.floor(n / 32), last, c, ch}
`)

// entriesScript reads the entries with index in [start, end), clamped to
// [checkpoint, head).
//
// KEYS: entries, hashes, ckpt.
// ARGV: start, end (< 0: the head).
// Returns the entries' JSON.
var entriesScript = redis.NewScript(`
local head = math.floor(redis.call('STRLEN', KEYS[2]) / 32)
local c = tonumber(redis.call('GET', KEYS[3]) or '0')
local s = math.max(tonumber(ARGV[1]), c)
local e = tonumber(ARGV[2])
if e < 0 or e > head then
  e = head
end
if s >= e then
  return {}
end
return redis.call('LRANGE', KEYS[1], s - c, e - c - 1)
`)

// trimScript deletes the entries before ARGV[1] and moves the checkpoint.
//
// KEYS: entries, hashes, ckpt.
// ARGV: upTo.
// Returns {-1, head} when upTo is beyond the head, else {checkpoint length,
// checkpoint hash (raw)}.
var trimScript = redis.NewScript(`
local head = math.floor(redis.call('STRLEN', KEYS[2]) / 32)
local up = tonumber(ARGV[1])
if up > head then
  return {-1, head}
end
local c = tonumber(redis.call('GET', KEYS[3]) or '0')
if up > c then
  redis.call('LTRIM', KEYS[1], up - c, -1)
  redis.call('SET', KEYS[3], up)
  c = up
end
if c == 0 then
  return {0, ''}
end
return {c, redis.call('GETRANGE', KEYS[2], (c - 1) * 32, c * 32 - 1)}
`)

// rawHash converts a hex hash to its raw form ("" for GenesisHash, which no
// entry has).
func rawHash(h string) (string, error) {
	if h == audit.GenesisHash {
		return "", nil
	}
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != hashLen {
		return "", fmt.Errorf("hash %q is not 64 hex digits: %w", h, store.ErrInvalid)
	}
	return string(b), nil
}

// hexHash converts a raw hash from Redis to hex ("" is GenesisHash).
func hexHash(raw string) (string, error) {
	if raw == "" {
		return audit.GenesisHash, nil
	}
	if len(raw) != hashLen {
		return "", fmt.Errorf("stored hash of %d bytes", len(raw))
	}
	return hex.EncodeToString([]byte(raw)), nil
}

// headOf reads {length, raw hash} from a script reply at vals[i:].
func headOf(vals []any, i int) (audit.Head, error) {
	if len(vals) < i+2 {
		return audit.Head{}, fmt.Errorf("unexpected script reply %v", vals)
	}
	n, ok1 := vals[i].(int64)
	raw, ok2 := vals[i+1].(string)
	if !ok1 || !ok2 {
		return audit.Head{}, fmt.Errorf("unexpected script reply %v", vals)
	}
	h, err := hexHash(raw)
	if err != nil {
		return audit.Head{}, err
	}
	return audit.Head{Len: int(n), Hash: h}, nil
}

// auditBackend is the batcher's view of the store.
type auditBackend struct{ s *Store }

func (b auditBackend) Head(ctx context.Context, id string) (audit.Head, error) {
	h, _, err := b.s.heads(ctx, id)
	return h, err
}

func (b auditBackend) AppendIf(ctx context.Context, id string, prev audit.Head, entries []audit.Entry, bodies [][]byte) (audit.Head, bool, error) {
	k := b.s.auditKeys(id)
	prevRaw, err := rawHash(prev.Hash)
	if err != nil {
		return audit.Head{}, false, err
	}
	hashes := make([]byte, 0, hashLen*len(entries))
	for _, e := range entries {
		raw, err := rawHash(e.Hash)
		if err != nil || raw == "" {
			return audit.Head{}, false, fmt.Errorf("entry %d: hash %q: %w", e.Index, e.Hash, store.ErrInvalid)
		}
		hashes = append(hashes, raw...)
	}
	args := make([]any, 0, 3+len(bodies))
	args = append(args, prev.Len, prevRaw, hashes)
	for _, body := range bodies {
		args = append(args, body)
	}
	vals, err := appendScript.Run(ctx, b.s.c, k, args...).Slice()
	if err != nil {
		return audit.Head{}, false, err
	}
	if len(vals) != 3 {
		return audit.Head{}, false, fmt.Errorf("unexpected append reply %v", vals)
	}
	head, err := headOf(vals, 1)
	if err != nil {
		return audit.Head{}, false, err
	}
	return head, vals[0] == int64(1), nil
}

// heads reads the head and the checkpoint of id's log in one atomic step.
func (s *Store) heads(ctx context.Context, id string) (head, ckpt audit.Head, err error) {
	k := s.auditKeys(id)
	vals, err := headScript.Run(ctx, s.c, []string{k[1], k[2]}).Slice()
	if err != nil {
		return head, ckpt, err
	}
	if head, err = headOf(vals, 0); err != nil {
		return head, ckpt, err
	}
	ckpt, err = headOf(vals, 2)
	return head, ckpt, err
}

// AppendAudit appends to covenantID's audit log; see store.AuditLog and
// auditbatch.Batcher.Append. Concurrent appends of this process to one log
// are written in batches, one round trip each; appends from other processes
// are ordered by compare-and-set on the head.
func (s *Store) AppendAudit(ctx context.Context, covenantID string, build func(prev audit.Head) (audit.Entry, error)) (audit.Entry, error) {
	if err := store.CheckID("covenant", covenantID); err != nil {
		return audit.Entry{}, fmt.Errorf("redisstore: append audit: %w", err)
	}
	b := s.batcher()
	if b == nil {
		return audit.Entry{}, fmt.Errorf("redisstore: append to audit log %s: %w", covenantID, auditbatch.ErrClosed)
	}
	e, err := b.Append(ctx, covenantID, build)
	if err != nil {
		return audit.Entry{}, fmt.Errorf("redisstore: %w", err)
	}
	return e, nil
}

// AuditHead returns the head of covenantID's audit log.
func (s *Store) AuditHead(ctx context.Context, covenantID string) (audit.Head, error) {
	if err := store.CheckID("covenant", covenantID); err != nil {
		return audit.Head{}, fmt.Errorf("redisstore: audit head: %w", err)
	}
	h, _, err := s.heads(ctx, covenantID)
	if err != nil {
		return audit.Head{}, fmt.Errorf("redisstore: audit head %s: %w", covenantID, err)
	}
	return h, nil
}

// AuditCheckpoint returns the trim point of covenantID's audit log.
func (s *Store) AuditCheckpoint(ctx context.Context, covenantID string) (audit.Head, error) {
	if err := store.CheckID("covenant", covenantID); err != nil {
		return audit.Head{}, fmt.Errorf("redisstore: audit checkpoint: %w", err)
	}
	_, c, err := s.heads(ctx, covenantID)
	if err != nil {
		return audit.Head{}, fmt.Errorf("redisstore: audit checkpoint %s: %w", covenantID, err)
	}
	return c, nil
}

// AuditEntries returns the entries of covenantID's log with index in
// [start, end), clamped to [checkpoint, head); end < 0 means the head.
func (s *Store) AuditEntries(ctx context.Context, covenantID string, start, end int) ([]audit.Entry, error) {
	if err := store.CheckID("covenant", covenantID); err != nil {
		return nil, fmt.Errorf("redisstore: audit entries: %w", err)
	}
	start = max(start, 0)
	if end >= 0 && end <= start {
		return []audit.Entry{}, nil
	}
	bodies, err := entriesScript.Run(ctx, s.c, s.auditKeys(covenantID), start, end).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("redisstore: audit entries %s: %w", covenantID, err)
	}
	out := make([]audit.Entry, len(bodies))
	for i, b := range bodies {
		if out[i], err = audit.ParseEntry([]byte(b)); err != nil {
			return nil, fmt.Errorf("redisstore: audit entries %s: stored entry %d: %w", covenantID, i, err)
		}
	}
	return out, nil
}

// AuditHashes returns the hashes of the entries with index in [start, end)
// of covenantID's log (end < 0: the head), trimmed ones included.
func (s *Store) AuditHashes(ctx context.Context, covenantID string, start, end int) ([]string, error) {
	if err := store.CheckID("covenant", covenantID); err != nil {
		return nil, fmt.Errorf("redisstore: audit hashes: %w", err)
	}
	start = max(start, 0)
	if end >= 0 && end <= start {
		return []string{}, nil
	}
	hi := int64(-1)
	if end >= 0 {
		hi = int64(end)*hashLen - 1
	}
	raw, err := s.c.GetRange(ctx, s.auditKeys(covenantID)[1], int64(start)*hashLen, hi).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("redisstore: audit hashes %s: %w", covenantID, err)
	}
	if len(raw)%hashLen != 0 {
		return nil, fmt.Errorf("redisstore: audit hashes %s: %d bytes is not a whole number of hashes", covenantID, len(raw))
	}
	out := make([]string, len(raw)/hashLen)
	for i := range out {
		out[i] = hex.EncodeToString([]byte(raw[i*hashLen : (i+1)*hashLen]))
	}
	return out, nil
}

// TrimAudit deletes the entries of covenantID's log before upTo, keeping
// their hashes, and returns the new checkpoint.
func (s *Store) TrimAudit(ctx context.Context, covenantID string, upTo int) (audit.Head, error) {
	if err := store.CheckID("covenant", covenantID); err != nil {
		return audit.Head{}, fmt.Errorf("redisstore: trim audit: %w", err)
	}
	if upTo < 0 {
		return audit.Head{}, fmt.Errorf("redisstore: trim audit %s: negative index %d: %w", covenantID, upTo, store.ErrInvalid)
	}
	vals, err := trimScript.Run(ctx, s.c, s.auditKeys(covenantID), upTo).Slice()
	if err != nil {
		return audit.Head{}, fmt.Errorf("redisstore: trim audit %s: %w", covenantID, err)
	}
	if len(vals) == 2 && vals[0] == int64(-1) {
		return audit.Head{}, fmt.Errorf("redisstore: trim audit %s up to %d: beyond the head %v: %w", covenantID, upTo, vals[1], store.ErrInvalid)
	}
	c, err := headOf(vals, 0)
	if err != nil {
		return audit.Head{}, fmt.Errorf("redisstore: trim audit %s: %w", covenantID, err)
	}
	return c, nil
}

// ResetAudit deletes covenantID's audit log, checkpoint included.
func (s *Store) ResetAudit(ctx context.Context, covenantID string) error {
	if err := store.CheckID("covenant", covenantID); err != nil {
		return fmt.Errorf("redisstore: reset audit: %w", err)
	}
	if err := s.c.Del(ctx, s.auditKeys(covenantID)...).Err(); err != nil {
		return fmt.Errorf("redisstore: reset audit %s: %w", covenantID, err)
	}
	if b := s.batcher(); b != nil {
		b.Forget(covenantID)
	}
	return nil
}

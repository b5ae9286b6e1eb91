package redisstore

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/stele-go/stele/internal/store"
)

// The registry on Redis:
//
//	stele:idx:*            the listing indexes written by PutDocuments (see the package doc)
//	stele:revocations      hash: public key -> Revocation JSON
//	stele:signingkeys      hash: key ID -> SigningKey JSON
//
// A listing walks one index by rank from its cursor (walkScript, which reads
// that one key) and tests the other filters with ZMSCORE on their own index
// keys, one single-key command each, so that a Cluster routes every command
// to the node of its key.

// Bounds of one step of a listing walk.
const (
	minWalkBatch = 64
	maxWalkBatch = 1000
)

// walkScript returns, from one index sorted set, the members after a
// position, in (score, member) order, with their scores.
//
// KEYS: the index.
// ARGV: after (members must score above it; "" for no bound), before
// (members must score below it; "" for no bound), cursor score ("" for no
// cursor), cursor member, count.
// Returns a flat array: member, score, member, score, … (at most count
// pairs; fewer only when the index has no more members within the bounds).
//
// The cursor's member is normally in the index with the cursor's score (it
// is the last document of the previous page), and its rank gives the
// position at once; otherwise the position is found by a binary search of
// the members sharing the cursor's score, which Redis orders bytewise.
var walkScript = redis.NewScript(`
local function after(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x > y end
  end
  return #a > #b
end
local key = KEYS[1]
local start = 0
if ARGV[1] ~= '' then
  start = redis.call('ZCOUNT', key, '-inf', ARGV[1])
end
if ARGV[3] ~= '' then
  local pos
  local sc = redis.call('ZSCORE', key, ARGV[4])
  if sc and tonumber(sc) == tonumber(ARGV[3]) then
    pos = redis.call('ZRANK', key, ARGV[4]) + 1
  else
    local lo = redis.call('ZCOUNT', key, '-inf', '(' .. ARGV[3])
    local hi = redis.call('ZCOUNT', key, '-inf', ARGV[3])
    while lo < hi do
      local mid = math.floor((lo + hi) / 2)
      if after(redis.call('ZRANGE', key, mid, mid)[1], ARGV[4]) then hi = mid else lo = mid + 1 end
    end
    pos = lo
  end
  if pos > start then start = pos end
end
local count = tonumber(ARGV[5])
local r = redis.call('ZRANGE', key, start, start + count - 1, 'WITHSCORES')
if ARGV[2] ~= '' then
  local before = tonumber(ARGV[2])
  for i = 2, #r, 2 do
    if tonumber(r[i]) >= before then
      local out = {}
      for j = 1, i - 2 do out[j] = r[j] end
      return out
    end
  end
end
return r
`)

// listed is a document found by a listing walk.
type listed struct {
	ms   int64
	doc  store.Document
	json []byte
}

// ListDocuments lists documents through the idx:* sorted sets; see
// store.Registry. It walks the smallest index named by the filters (or
// idx:created) from the cursor in bounded steps, tests each step's members
// against the other filters' indexes, and reads the matching documents,
// until it has the page and one document more (which decides Next) or the
// index ends. The indexed fields of each document are read from its JSON.
func (s *Store) ListDocuments(ctx context.Context, q store.DocumentQuery) (store.DocumentPage, error) {
	b, err := store.CheckDocumentQuery(q)
	if err != nil {
		return store.DocumentPage{}, fmt.Errorf("redisstore: list documents: %w", err)
	}
	if b.Empty() {
		return store.DocumentPage{}, nil
	}
	walk, others, err := s.pickIndex(ctx, q)
	if err != nil {
		return store.DocumentPage{}, fmt.Errorf("redisstore: list documents: %w", err)
	}
	args := []any{"", "", "", "", 0}
	if b.After != math.MinInt64 {
		args[0] = strconv.FormatInt(b.After, 10)
	}
	if b.Before != math.MaxInt64 {
		args[1] = strconv.FormatInt(b.Before, 10)
	}
	if b.HasCursor {
		args[2], args[3] = strconv.FormatInt(b.CursorMs, 10), b.CursorID
	}
	need := b.Limit + 1
	found := make([]listed, 0, need)
	batch := need
	if len(others) > 0 {
		batch = max(batch, minWalkBatch)
	}
	for len(found) < need {
		batch = min(batch, maxWalkBatch)
		args[4] = batch
		ids, scores, err := s.walk(ctx, walk, args)
		if err != nil {
			return store.DocumentPage{}, fmt.Errorf("redisstore: list documents: %w", err)
		}
		if len(ids) == 0 {
			break
		}
		keep, err := s.inAll(ctx, others, ids)
		if err != nil {
			return store.DocumentPage{}, fmt.Errorf("redisstore: list documents: %w", err)
		}
		var match []int
		for i := range ids {
			if keep[i] && len(found)+len(match) < need {
				match = append(match, i)
			}
		}
		if err := s.readListed(ctx, ids, scores, match, &found); err != nil {
			return store.DocumentPage{}, fmt.Errorf("redisstore: list documents: %w", err)
		}
		if len(ids) < batch {
			break
		}
		last := len(ids) - 1
		args[2], args[3] = strconv.FormatInt(scores[last], 10), ids[last]
		batch *= 2
	}
	var page store.DocumentPage
	for i, l := range found {
		if i == b.Limit {
			last := found[i-1]
			page.Next = store.EncodeCursor(last.ms, last.doc.ID)
			break
		}
		page.Documents = append(page.Documents, l.doc)
	}
	return page, nil
}

// pickIndex returns the index key to walk for q and the keys of the other
// filters: the smallest of the filters' indexes (by ZCARD), or idx:created
// when q filters on nothing but time.
func (s *Store) pickIndex(ctx context.Context, q store.DocumentQuery) (string, []string, error) {
	var keys []string
	if q.Issuer != "" {
		keys = append(keys, s.idxKey("issuer", q.Issuer))
	}
	if q.Beneficiary != "" {
		keys = append(keys, s.idxKey("beneficiary", q.Beneficiary))
	}
	if q.Tag != "" {
		keys = append(keys, s.idxKey("tag", q.Tag))
	}
	if q.HasChain != nil {
		chain := "0"
		if *q.HasChain {
			chain = "1"
		}
		keys = append(keys, s.idxKey("chain", chain))
	}
	switch len(keys) {
	case 0:
		return s.idxKey("created"), nil, nil
	case 1:
		return keys[0], nil, nil
	}
	cards := make([]*redis.IntCmd, len(keys))
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cards[i] = p.ZCard(ctx, k)
		}
		return nil
	})
	if err != nil {
		return "", nil, err
	}
	best := 0
	for i, c := range cards {
		if c.Val() < cards[best].Val() {
			best = i
		}
	}
	walk := keys[best]
	return walk, slices.Delete(keys, best, best+1), nil
}

// walk runs walkScript on key and returns the members and their scores.
func (s *Store) walk(ctx context.Context, key string, args []any) ([]string, []int64, error) {
	res, err := walkScript.Run(ctx, s.c, []string{key}, args...).Slice()
	if err != nil {
		return nil, nil, fmt.Errorf("walk %s: %w", key, err)
	}
	if len(res)%2 != 0 {
		return nil, nil, fmt.Errorf("walk %s: odd reply of %d elements", key, len(res))
	}
	ids := make([]string, 0, len(res)/2)
	scores := make([]int64, 0, len(res)/2)
	for i := 0; i < len(res); i += 2 {
		id, ok1 := res[i].(string)
		sc, ok2 := res[i+1].(string)
		if !ok1 || !ok2 {
			return nil, nil, fmt.Errorf("walk %s: unexpected reply types %T, %T", key, res[i], res[i+1])
		}
		f, err := strconv.ParseFloat(sc, 64)
		if err != nil {
			return nil, nil, fmt.Errorf("walk %s: score %q: %w", key, sc, err)
		}
		ids = append(ids, id)
		scores = append(scores, int64(f))
	}
	return ids, scores, nil
}

// inAll reports which ids are members of every one of keys, with one
// ZMSCORE per key in one pipeline.
func (s *Store) inAll(ctx context.Context, keys, ids []string) ([]bool, error) {
	keep := make([]bool, len(ids))
	for i := range keep {
		keep[i] = true
	}
	if len(keys) == 0 {
		return keep, nil
	}
	cmds := make([]*redis.Cmd, len(keys))
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			args := make([]any, 0, 2+len(ids)) // each command keeps its own
			args = append(args, "ZMSCORE", k)
			for _, id := range ids {
				args = append(args, id)
			}
			cmds[i] = p.Do(ctx, args...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("filter: %w", err)
	}
	for i, c := range cmds {
		vals, err := c.Slice()
		if err != nil {
			return nil, fmt.Errorf("filter %s: %w", keys[i], err)
		}
		if len(vals) != len(ids) {
			return nil, fmt.Errorf("filter %s: %d scores for %d members", keys[i], len(vals), len(ids))
		}
		for j, v := range vals {
			if v == nil {
				keep[j] = false
			}
		}
	}
	return keep, nil
}

// readListed reads the documents ids[match[…]] and appends those that exist
// to found, in order, with their fields read from the JSON. (An index entry
// whose document is absent is one whose write has not landed yet.)
func (s *Store) readListed(ctx context.Context, ids []string, scores []int64, match []int, found *[]listed) error {
	if len(match) == 0 {
		return nil
	}
	keys := make([]string, len(match))
	for i, m := range match {
		keys[i] = s.docKey(ids[m])
	}
	bodies, err := s.getMany(ctx, keys)
	if err != nil {
		return fmt.Errorf("read %d documents: %w", len(keys), err)
	}
	for i, m := range match {
		if bodies[i] == nil {
			continue
		}
		*found = append(*found, listed{ms: scores[m], doc: documentFields(ids[m], bodies[i])})
	}
	return nil
}

// documentFields returns the stored document id with the indexed fields its
// JSON states, read as internal/jobs reads them with package covenant:
// issuer.id, beneficiary.id and createdAt when they are strings, HasChain
// when chain is an object, Tags when metadata.tags is an array of strings
// (those indexed: store.IndexedTags). Members of other types count as
// absent.
func documentFields(id string, b []byte) store.Document {
	d := store.Document{ID: id, JSON: b}
	var top map[string]json.RawMessage
	if json.Unmarshal(b, &top) != nil {
		return d
	}
	d.IssuerID = stringMember(top["issuer"], "id")
	d.BeneficiaryID = stringMember(top["beneficiary"], "id")
	d.CreatedAt = jsonString(top["createdAt"])
	d.HasChain = isObject(top["chain"])
	if md := top["metadata"]; isObject(md) {
		var m map[string]json.RawMessage
		if json.Unmarshal(md, &m) == nil {
			d.Tags = store.IndexedTags(stringList(m["tags"]))
		}
	}
	return d
}

func isObject(raw json.RawMessage) bool {
	return len(raw) > 0 && raw[0] == '{'
}

// jsonString returns raw's value when it is a JSON string, else "".
func jsonString(raw json.RawMessage) string {
	if len(raw) == 0 || raw[0] != '"' {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// stringMember returns the string member name of the object raw, else "".
func stringMember(raw json.RawMessage, name string) string {
	if !isObject(raw) {
		return ""
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return ""
	}
	return jsonString(m[name])
}

// stringList returns the array of strings raw, in its order; nil when raw
// is not an array of strings only.
func stringList(raw json.RawMessage) []string {
	if len(raw) == 0 || raw[0] != '[' {
		return nil
	}
	var elems []json.RawMessage
	if json.Unmarshal(raw, &elems) != nil {
		return nil
	}
	out := make([]string, 0, len(elems))
	for _, e := range elems {
		if len(e) == 0 || e[0] != '"' {
			return nil
		}
		out = append(out, jsonString(e))
	}
	return out
}

// RevokeKey records a revocation with HSETNX, so that the first record of a
// key stands; see store.Revocations.
func (s *Store) RevokeKey(ctx context.Context, r store.Revocation) error {
	rec, err := store.CheckRevocation(r, s.opts.now())
	if err != nil {
		return fmt.Errorf("redisstore: revoke key: %w", err)
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("redisstore: revoke key %s: %w", rec.PublicKey, err)
	}
	set, err := s.c.HSetNX(ctx, s.revocationsKey(), rec.PublicKey, b).Result()
	if err != nil {
		return fmt.Errorf("redisstore: revoke key %s: %w", rec.PublicKey, err)
	}
	if !set {
		return fmt.Errorf("redisstore: revoke key %s: %w", rec.PublicKey, store.ErrExists)
	}
	return nil
}

// RevokedKeys reads the records of publicKeys with one HMGET; see
// store.Revocations.
func (s *Store) RevokedKeys(ctx context.Context, publicKeys []string) (map[string]store.Revocation, error) {
	out := make(map[string]store.Revocation)
	var fields []string
	for _, k := range publicKeys {
		if store.IsPublicKeyHex(k) {
			fields = append(fields, k)
		}
	}
	if len(fields) == 0 {
		return out, nil
	}
	vals, err := s.c.HMGet(ctx, s.revocationsKey(), fields...).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: revoked keys: %w", err)
	}
	for i, v := range vals {
		if v == nil {
			continue
		}
		r, err := decodeRecord[store.Revocation](v)
		if err != nil {
			return nil, fmt.Errorf("redisstore: revocation of %s: %w", fields[i], err)
		}
		out[fields[i]] = r
	}
	return out, nil
}

// ListRevocations reads the whole revocation hash; see store.Revocations.
func (s *Store) ListRevocations(ctx context.Context) ([]store.Revocation, error) {
	all, err := s.c.HGetAll(ctx, s.revocationsKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: list revocations: %w", err)
	}
	out := make([]store.Revocation, 0, len(all))
	for k, v := range all {
		r, err := decodeRecord[store.Revocation](v)
		if err != nil {
			return nil, fmt.Errorf("redisstore: revocation of %s: %w", k, err)
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b store.Revocation) int {
		return cmp.Or(a.RevokedAt.Compare(b.RevokedAt), strings.Compare(a.PublicKey, b.PublicKey))
	})
	return out, nil
}

// advertiseScript upserts signing keys into the directory hash unless one
// names a key ID that holds a different public key.
//
// KEYS: the directory hash.
// ARGV: per key: key ID, public key, record JSON.
// Returns 1, or a STELE_EXISTS error naming the key ID (writing nothing).
var advertiseScript = redis.NewScript(`
for i = 1, #ARGV, 3 do
  local old = redis.call('HGET', KEYS[1], ARGV[i])
  if old and cjson.decode(old).publicKey ~= ARGV[i + 1] then
    return redis.error_reply('STELE_EXISTS key id ' .. ARGV[i] .. ' holds another public key')
  end
end
for i = 1, #ARGV, 3 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2])
end
return 1
`)

// AdvertiseKeys upserts keys with one script on the directory hash, so the
// check for a conflicting public key and the writes are atomic; see
// store.KeyDirectory.
func (s *Store) AdvertiseKeys(ctx context.Context, keys []store.SigningKey) error {
	recs, err := store.CheckSigningKeys(keys, s.opts.now())
	if err != nil {
		return fmt.Errorf("redisstore: advertise keys: %w", err)
	}
	if len(recs) == 0 {
		return nil
	}
	args := make([]any, 0, 3*len(recs))
	for _, k := range recs {
		b, err := json.Marshal(k)
		if err != nil {
			return fmt.Errorf("redisstore: advertise key %s: %w", k.KeyID, err)
		}
		args = append(args, k.KeyID, k.PublicKey, b)
	}
	err = advertiseScript.Run(ctx, s.c, []string{s.signingKeysKey()}, args...).Err()
	if err != nil {
		if strings.HasPrefix(err.Error(), "STELE_EXISTS") {
			return fmt.Errorf("redisstore: advertise keys: %s: %w", err.Error(), store.ErrExists)
		}
		return fmt.Errorf("redisstore: advertise keys: %w", err)
	}
	return nil
}

// SigningKeys reads the whole directory hash; see store.KeyDirectory.
func (s *Store) SigningKeys(ctx context.Context) (map[string]store.SigningKey, error) {
	all, err := s.c.HGetAll(ctx, s.signingKeysKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: signing keys: %w", err)
	}
	out := make(map[string]store.SigningKey, len(all))
	for id, v := range all {
		k, err := decodeRecord[store.SigningKey](v)
		if err != nil {
			return nil, fmt.Errorf("redisstore: signing key %s: %w", id, err)
		}
		out[id] = k
	}
	return out, nil
}

// decodeRecord decodes a JSON record read from a hash (a string, or any
// value for HMGET).
func decodeRecord[T any](v any) (T, error) {
	var rec T
	str, ok := v.(string)
	if !ok {
		return rec, fmt.Errorf("unexpected value of type %T", v)
	}
	if err := json.Unmarshal([]byte(str), &rec); err != nil {
		return rec, err
	}
	return rec, nil
}

func (s *Store) revocationsKey() string { return s.opts.prefix + "revocations" }
func (s *Store) signingKeysKey() string { return s.opts.prefix + "signingkeys" }

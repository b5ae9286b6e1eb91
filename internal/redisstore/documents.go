package redisstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/stele-go/stele/internal/store"
)

// Bounds of one pipeline of document writes.
const (
	maxPipelineDocs  = 1000
	maxPipelineBytes = 8 << 20
)

// PutDocuments stores documents and their index entries; see store.Documents.
// Documents are written in pipelines of bounded size; index entries are only
// ever added (documents are content-addressed, so their indexed fields do not
// change), one ZADD per index key and pipeline, before the documents: a
// stored document always has its index entries, so a writer that finds a
// document stored with the bytes it would write may skip writing it. (On one
// node a pipeline runs in order; on a Cluster, whose pipelines run on several
// nodes at once, the index entries go in a pipeline of their own first.)
func (s *Store) PutDocuments(ctx context.Context, docs []store.Document) error {
	if err := store.CheckDocuments(docs); err != nil {
		return fmt.Errorf("redisstore: put documents: %w", err)
	}
	for lo := 0; lo < len(docs); {
		hi := nextDocBatch(docs, lo)
		var err error
		if s.cluster {
			_, err = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
				s.queueIndexes(ctx, p, docs[lo:hi])
				return nil
			})
			if err == nil {
				_, err = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
					s.queueDocumentSets(ctx, p, docs[lo:hi])
					return nil
				})
			}
		} else {
			_, err = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
				s.queueDocuments(ctx, p, docs[lo:hi])
				return nil
			})
		}
		if err != nil {
			return fmt.Errorf("redisstore: put documents: %w", err)
		}
		lo = hi
	}
	return nil
}

// nextDocBatch returns the end of the pipeline of documents starting at lo.
func nextDocBatch(docs []store.Document, lo int) int {
	hi, size := lo, 0
	for hi < len(docs) && hi-lo < maxPipelineDocs && (hi == lo || size+len(docs[hi].JSON) <= maxPipelineBytes) {
		size += len(docs[hi].JSON)
		hi++
	}
	return hi
}

// queueDocuments adds to p the commands storing docs: their index entries
// (queueIndexes), then one SET per document. Redis runs them in that order
// on one node.
func (s *Store) queueDocuments(ctx context.Context, p redis.Pipeliner, docs []store.Document) {
	s.queueIndexes(ctx, p, docs)
	s.queueDocumentSets(ctx, p, docs)
}

// queueDocumentSets adds to p one SET per document (SETNX when CreateOnly).
func (s *Store) queueDocumentSets(ctx context.Context, p redis.Pipeliner, docs []store.Document) {
	for _, d := range docs {
		if d.CreateOnly {
			p.SetNX(ctx, s.docKey(d.ID), d.JSON, 0)
		} else {
			p.Set(ctx, s.docKey(d.ID), d.JSON, 0)
		}
	}
}

// queueIndexes adds to p one ZADD per index key with every member of docs
// that belongs there.
func (s *Store) queueIndexes(ctx context.Context, p redis.Pipeliner, docs []store.Document) {
	if len(docs) == 0 {
		return
	}
	var order []string // index keys in first-use order
	members := make(map[string][]redis.Z)
	add := func(key string, z redis.Z) {
		if _, ok := members[key]; !ok {
			order = append(order, key)
		}
		members[key] = append(members[key], z)
	}
	created := s.idxKey("created")
	for _, d := range docs {
		z := redis.Z{Score: createdScore(d.CreatedAt), Member: d.ID}
		add(created, z)
		add(s.idxKey("issuer", d.IssuerID), z)
		add(s.idxKey("beneficiary", d.BeneficiaryID), z)
		chain := "0"
		if d.HasChain {
			chain = "1"
		}
		add(s.idxKey("chain", chain), z)
		for _, tag := range store.IndexedTags(d.Tags) {
			add(s.idxKey("tag", tag), z)
		}
	}
	for _, key := range order {
		p.ZAdd(ctx, key, members[key]...)
	}
}

// createdScore is the index score of a createdAt value: Unix milliseconds, or
// 0 when it does not parse as RFC 3339 (store.CreatedMillis, which the SQLite
// store orders by too).
func createdScore(createdAt string) float64 {
	return float64(store.CreatedMillis(createdAt))
}

// GetDocument returns a document's JSON; see store.Documents.
func (s *Store) GetDocument(ctx context.Context, id string) ([]byte, error) {
	if err := store.CheckID("document", id); err != nil {
		return nil, fmt.Errorf("redisstore: get document: %w", err)
	}
	b, err := s.c.Get(ctx, s.docKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("redisstore: get document %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("redisstore: get document %s: %w", id, err)
	}
	return b, nil
}

// HasDocuments reports which documents are stored; see store.Documents. On
// one node a single multi-key EXISTS answers the common case (all stored);
// otherwise, and on a Cluster, one EXISTS per key goes in a pipeline.
func (s *Store) HasDocuments(ctx context.Context, ids []string) ([]bool, error) {
	out := make([]bool, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	keys := make([]string, len(ids))
	distinct := make(map[string]struct{}, len(ids))
	for i, id := range ids {
		keys[i] = s.docKey(id)
		distinct[keys[i]] = struct{}{}
	}
	if !s.cluster {
		uniq := make([]string, 0, len(distinct))
		for k := range distinct {
			uniq = append(uniq, k)
		}
		n, err := s.c.Exists(ctx, uniq...).Result()
		if err != nil {
			return nil, fmt.Errorf("redisstore: check %d documents: %w", len(ids), err)
		}
		if n == int64(len(uniq)) {
			for i := range out {
				out[i] = true
			}
			return out, nil
		}
	}
	cmds, err := perKey(ctx, s.c, keys, func(p redis.Pipeliner, k string) *redis.IntCmd { return p.Exists(ctx, k) })
	if err != nil {
		return nil, fmt.Errorf("redisstore: check %d documents: %w", len(ids), err)
	}
	for i, c := range cmds {
		out[i] = c.Val() == 1
	}
	return out, nil
}

// GetDocuments returns documents' JSON, nil where absent; see store.Documents.
func (s *Store) GetDocuments(ctx context.Context, ids []string) ([][]byte, error) {
	return s.getByID(ctx, "documents", s.docKey, ids)
}

// getByID reads the string values of the keys key(id) for ids in order, nil
// where absent; what names them in errors.
func (s *Store) getByID(ctx context.Context, what string, key func(string) string, ids []string) ([][]byte, error) {
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = key(id)
	}
	out, err := s.getMany(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("redisstore: get %d %s: %w", len(ids), what, err)
	}
	return out, nil
}

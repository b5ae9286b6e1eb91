package redisstore

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/stele-go/stele/internal/store"
)

// blobKey is the key of a staged blob: apart from documents (doc:*) and
// their indexes, with the job TTL.
func (s *Store) blobKey(id string) string { return s.opts.prefix + "blob:" + id }

// PutBlobs stores staged blobs for the job TTL; see store.Blobs.
func (s *Store) PutBlobs(ctx context.Context, blobs []store.Blob) error {
	if err := store.CheckBlobs(blobs); err != nil {
		return fmt.Errorf("redisstore: put blobs: %w", err)
	}
	if len(blobs) == 0 {
		return nil
	}
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, b := range blobs {
			p.Set(ctx, s.blobKey(b.ID), b.Data, s.opts.jobTTL)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("redisstore: put %d blobs: %w", len(blobs), err)
	}
	return nil
}

// GetBlobs reads staged blobs; see store.Blobs.
func (s *Store) GetBlobs(ctx context.Context, ids []string) ([][]byte, error) {
	return s.getByID(ctx, "blobs", s.blobKey, ids)
}

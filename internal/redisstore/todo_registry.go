package redisstore

import (
	"context"
	"errors"

	"github.com/stele-go/stele/internal/store"
)

// Placeholders until the registry is implemented (this file is deleted then).

func (s *Store) ListDocuments(ctx context.Context, q store.DocumentQuery) (store.DocumentPage, error) {
	return store.DocumentPage{}, errors.ErrUnsupported
}
func (s *Store) RevokeKey(ctx context.Context, r store.Revocation) error {
	return errors.ErrUnsupported
}
func (s *Store) RevokedKeys(ctx context.Context, publicKeys []string) (map[string]store.Revocation, error) {
	return nil, errors.ErrUnsupported
}
func (s *Store) ListRevocations(ctx context.Context) ([]store.Revocation, error) {
	return nil, errors.ErrUnsupported
}
func (s *Store) AdvertiseKeys(ctx context.Context, keys []store.SigningKey) error {
	return errors.ErrUnsupported
}
func (s *Store) SigningKeys(ctx context.Context) (map[string]store.SigningKey, error) {
	return nil, errors.ErrUnsupported
}

// Package keyring holds the issuer keys of a signer process: loaded from a
// directory of key files as `stele keygen` writes them, or from environment
// variables, and advertised (public halves only) in the shared key directory
// so that gateways can name issuer public keys without holding private keys.
//
// # Key files
//
// A key directory holds one file per key, named <keyID>.key, containing one
// line: the hex seed (64 digits) or seed and public key (128 digits). Key IDs
// are 1 to 64 characters of [A-Za-z0-9._-]. Files and the directory itself
// must not be readable, writable or executable by group or others (mode &
// 0o077 == 0); Load refuses them with an error naming the file and the fix.
// Other files are ignored.
//
// A key is retired (rotated out) by creating an empty marker file
// <keyID>.retired next to its key file. A retired key signs nothing new; the
// covenants it signed keep verifying, because verification needs only the
// public key carried in each document, and the retired key stays advertised
// with Retired set. A marker without its key file is an error (a typo would
// otherwise leave a key in service).
//
// # Environment
//
// FromEnv reads STELE_KEY_<ID>=<hex seed> (the ID is the rest of the variable
// name, case preserved) and STELE_KEYS_RETIRED=<ID>[,<ID>…], which retires
// keys of the environment or, after Merge, of a directory.
//
// # Secrecy
//
// Private keys never leave the process: Key and Keyring print, log and
// marshal only key IDs and public keys.
package keyring

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/stele-go/stele/internal/core/keys"
	"github.com/stele-go/stele/internal/store"
)

// File-name suffixes and environment variable names.
const (
	KeySuffix     = ".key"
	RetiredSuffix = ".retired"
	EnvKeyPrefix  = "STELE_KEY_"
	EnvRetired    = "STELE_KEYS_RETIRED"
	// MaxIDLen bounds key IDs.
	MaxIDLen = 64
	// maxKeyFile bounds what Load reads of a key file; a key file is one
	// line of at most 128 hex digits.
	maxKeyFile = 1024
)

// Sentinel errors, matched with errors.Is.
var (
	// ErrPermissions reports a key file or key directory that group or
	// others may access.
	ErrPermissions = errors.New("keyring: key file or directory is accessible by group or others")
	// ErrInvalidID reports a key ID outside 1–64 characters of [A-Za-z0-9._-].
	ErrInvalidID = errors.New("keyring: invalid key ID")
	// ErrInvalidKey reports key material that does not parse.
	ErrInvalidKey = errors.New("keyring: invalid key")
	// ErrDuplicate reports one key ID bound to two different keys.
	ErrDuplicate = errors.New("keyring: key ID bound to two different keys")
	// ErrUnknownRetired reports a retirement marker naming no key.
	ErrUnknownRetired = errors.New("keyring: retirement marker names no key")
)

// Key is one issuer key. Its exported members are public; the private key is
// reachable only through PrivateKey, for signing inside the process.
type Key struct {
	ID      string
	Public  string // lowercase hex Ed25519 public key
	Retired bool
	priv    *keys.PrivateKey
}

// NewKey makes a Key from a private key (for tests and programs that hold
// keys otherwise). ErrInvalidID for a bad id; priv must not be nil.
func NewKey(id string, priv *keys.PrivateKey, retired bool) (*Key, error) {
	if err := CheckID(id); err != nil {
		return nil, err
	}
	if priv == nil {
		return nil, fmt.Errorf("key %q: %w: no private key", id, ErrInvalidKey)
	}
	return &Key{ID: id, Public: priv.PublicHex(), Retired: retired, priv: priv}, nil
}

// PrivateKey returns the signing key. It must not be passed outside the
// process; its own String and LogValue show only the public key.
func (k *Key) PrivateKey() *keys.PrivateKey { return k.priv }

// SigningKey is the advertised form of k (SeenAt zero).
func (k *Key) SigningKey() store.SigningKey {
	return store.SigningKey{KeyID: k.ID, PublicKey: k.Public, Retired: k.Retired}
}

// String shows the ID, the public key and whether the key is retired.
func (k Key) String() string {
	s := "keyring.Key{id: " + k.ID + ", public: " + k.Public
	if k.Retired {
		s += ", retired"
	}
	return s + "}"
}

// GoString is String, so %#v does not print the private key's fields.
func (k Key) GoString() string { return k.String() }

// Format prints String for every verb, so no verb (%+v, %x, …) reaches the
// private key.
func (k Key) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

// LogValue makes slog print only the ID, the public key and Retired.
func (k Key) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", k.ID), slog.String("public_key", k.Public),
		slog.Bool("retired", k.Retired))
}

// MarshalJSON writes the advertised form (keyId, publicKey, retired).
func (k Key) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		KeyID     string `json:"keyId"`
		PublicKey string `json:"publicKey"`
		Retired   bool   `json:"retired"`
	}{k.ID, k.Public, k.Retired})
}

// Keyring is an immutable set of keys by ID, safe for concurrent use.
type Keyring struct {
	keys map[string]*Key
	ids  []string // sorted
}

// New returns a keyring of ks. ErrDuplicate when two keys share an ID with
// different public keys; equal duplicates collapse (retired if either is).
func New(ks ...*Key) (*Keyring, error) {
	r := &Keyring{keys: make(map[string]*Key, len(ks))}
	for _, k := range ks {
		if k == nil || k.priv == nil {
			return nil, fmt.Errorf("new keyring: %w: nil key", ErrInvalidKey)
		}
		if err := r.add(k); err != nil {
			return nil, err
		}
	}
	r.sortIDs()
	return r, nil
}

func (r *Keyring) add(k *Key) error {
	old, ok := r.keys[k.ID]
	if !ok {
		c := *k
		r.keys[k.ID] = &c
		return nil
	}
	if !keys.ConstantTimeEqualString(old.Public, k.Public) {
		return fmt.Errorf("key %q: %w (public keys %s and %s)", k.ID, ErrDuplicate, old.Public, k.Public)
	}
	if k.Retired && !old.Retired {
		c := *old
		c.Retired = true
		r.keys[k.ID] = &c
	}
	return nil
}

func (r *Keyring) sortIDs() {
	r.ids = r.ids[:0]
	for id := range r.keys {
		r.ids = append(r.ids, id)
	}
	slices.Sort(r.ids)
}

// Merge returns a keyring holding the keys of all rings (nil rings are
// skipped). ErrDuplicate when one ID names different keys; a key retired in
// any ring is retired.
func Merge(rings ...*Keyring) (*Keyring, error) {
	out := &Keyring{keys: make(map[string]*Key)}
	for _, r := range rings {
		if r == nil {
			continue
		}
		for _, id := range r.ids {
			if err := out.add(r.keys[id]); err != nil {
				return nil, fmt.Errorf("merge keyrings: %w", err)
			}
		}
	}
	out.sortIDs()
	return out, nil
}

// Get returns the key with the given ID.
func (r *Keyring) Get(id string) (*Key, bool) {
	if r == nil {
		return nil, false
	}
	k, ok := r.keys[id]
	return k, ok
}

// Len returns the number of keys.
func (r *Keyring) Len() int {
	if r == nil {
		return 0
	}
	return len(r.ids)
}

// IDs returns the key IDs in ascending order.
func (r *Keyring) IDs() []string {
	if r == nil {
		return nil
	}
	return slices.Clone(r.ids)
}

// Keys returns the public halves of the keys, ordered by ID, with SeenAt
// zero. No private material.
func (r *Keyring) Keys() []store.SigningKey {
	if r == nil {
		return nil
	}
	out := make([]store.SigningKey, 0, len(r.ids))
	for _, id := range r.ids {
		out = append(out, r.keys[id].SigningKey())
	}
	return out
}

// Advertise records the keys in dir with SeenAt = now. An empty keyring
// writes nothing. When dir already holds another public key under one of the
// IDs, the error wraps store.ErrExists and tells the operator how to rotate.
func (r *Keyring) Advertise(ctx context.Context, dir store.KeyDirectory, now time.Time) error {
	ks := r.Keys()
	if len(ks) == 0 {
		return nil
	}
	for i := range ks {
		ks[i].SeenAt = now
	}
	if err := dir.AdvertiseKeys(ctx, ks); err != nil {
		if errors.Is(err, store.ErrExists) {
			return fmt.Errorf("a key ID names one key for good, and the store holds another public key under one of the key IDs %s "+
				"(generate the new key under a new ID, and retire the old ID with <keyID>.retired or STELE_KEYS_RETIRED): %w",
				strings.Join(r.IDs(), ", "), err)
		}
		return fmt.Errorf("advertise %d keys: %w", len(ks), err)
	}
	return nil
}

// String lists the IDs and public keys.
func (r *Keyring) String() string {
	var b strings.Builder
	b.WriteString("keyring.Keyring{")
	for i, id := range r.IDs() {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(r.keys[id].String())
	}
	b.WriteString("}")
	return b.String()
}

// LogValue makes slog print the IDs and public keys only.
func (r *Keyring) LogValue() slog.Value {
	attrs := make([]slog.Attr, 0, r.Len())
	for _, id := range r.IDs() {
		attrs = append(attrs, slog.Any(id, r.keys[id].LogValue()))
	}
	return slog.GroupValue(attrs...)
}

// CheckID reports whether id is a valid key ID (ErrInvalidID otherwise).
func CheckID(id string) error {
	if id == "" || len(id) > MaxIDLen {
		return fmt.Errorf("%w %q: want 1 to %d characters", ErrInvalidID, id, MaxIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w %q: only letters, digits, '.', '_' and '-' are allowed", ErrInvalidID, id)
		}
	}
	return nil
}

// Load reads the key files of dir (see the package documentation). The
// directory and every key or marker file must have no group or other
// permission bits; key files must be regular files. An empty directory
// gives an empty keyring.
func Load(dir string) (*Keyring, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("load keys: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("load keys: %s is not a directory", dir)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("load keys: directory %s: %w (mode %v); fix: chmod 700 %s",
			dir, ErrPermissions, perm, dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("load keys: %w", err)
	}
	r := &Keyring{keys: make(map[string]*Key)}
	var retired []string
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(dir, name)
		switch {
		case strings.HasSuffix(name, KeySuffix):
			id := strings.TrimSuffix(name, KeySuffix)
			if err := CheckID(id); err != nil {
				return nil, fmt.Errorf("load keys: %s: %w", path, err)
			}
			priv, err := readKeyFile(path)
			if err != nil {
				return nil, fmt.Errorf("load keys: %w", err)
			}
			r.keys[id] = &Key{ID: id, Public: priv.PublicHex(), priv: priv}
		case strings.HasSuffix(name, RetiredSuffix):
			id := strings.TrimSuffix(name, RetiredSuffix)
			if err := CheckID(id); err != nil {
				return nil, fmt.Errorf("load keys: %s: %w", path, err)
			}
			if err := checkFileMode(path); err != nil {
				return nil, fmt.Errorf("load keys: %w", err)
			}
			retired = append(retired, id)
		}
	}
	for _, id := range retired {
		k, ok := r.keys[id]
		if !ok {
			return nil, fmt.Errorf("load keys: %s: %w %q (no %s)",
				filepath.Join(dir, id+RetiredSuffix), ErrUnknownRetired, id, id+KeySuffix)
		}
		k.Retired = true
	}
	r.sortIDs()
	return r, nil
}

func checkFileMode(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%s: %w (mode %v); fix: chmod 600 %s", path, ErrPermissions, perm, path)
	}
	return nil
}

// readKeyFile reads one key file, checking the mode of the opened file (so a
// file swapped after the check is not read).
func readKeyFile(path string) (*keys.PrivateKey, error) {
	// Refuse anything but a regular file before opening it: opening a
	// named pipe would block until a writer appears.
	if st, err := os.Stat(path); err != nil {
		return nil, err
	} else if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w: not a regular file", path, ErrInvalidKey)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w: not a regular file", path, ErrInvalidKey)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%s: %w (mode %v); fix: chmod 600 %s", path, ErrPermissions, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	defer clear(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(b) > maxKeyFile {
		return nil, fmt.Errorf("%s: %w: larger than %d bytes", path, ErrInvalidKey, maxKeyFile)
	}
	priv, err := parseSeed(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return priv, nil
}

// parseSeed parses one key: 64 or 128 hex digits, surrounding white space
// ignored. The error never contains the input.
func parseSeed(s string) (*keys.PrivateKey, error) {
	priv, err := keys.ParsePrivateKeyHex(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("%w: want one line of 64 hex digits (a seed, as 'stele keygen' writes) or 128 (seed and public key): %w",
			ErrInvalidKey, err)
	}
	return priv, nil
}

// FromEnv reads keys from environ (os.Environ's form): STELE_KEY_<ID>=<hex>,
// and STELE_KEYS_RETIRED=<ID>[,<ID>…] to retire some of them
// (ErrUnknownRetired when one names no key). Errors name the variable, never
// its value.
func FromEnv(environ []string) (*Keyring, error) {
	r, retired, err := fromEnv(environ)
	if err != nil {
		return nil, err
	}
	if err := r.retire(retired); err != nil {
		return nil, fmt.Errorf("keys from environment: %w", err)
	}
	return r, nil
}

// LoadAll is the keyring of a signer process: the keys of dir (none when dir
// is "") merged with those of environ. STELE_KEYS_RETIRED may retire keys of
// either source. ErrDuplicate when one ID names different keys.
func LoadAll(dir string, environ []string) (*Keyring, error) {
	var fromDir *Keyring
	if dir != "" {
		var err error
		if fromDir, err = Load(dir); err != nil {
			return nil, err
		}
	}
	env, retired, err := fromEnv(environ)
	if err != nil {
		return nil, err
	}
	r, err := Merge(fromDir, env)
	if err != nil {
		return nil, err
	}
	if err := r.retire(retired); err != nil {
		return nil, fmt.Errorf("keys from environment: %w", err)
	}
	return r, nil
}

// retire marks ids retired; r must not be shared yet.
func (r *Keyring) retire(ids []string) error {
	for _, id := range ids {
		k, ok := r.keys[id]
		if !ok {
			return fmt.Errorf("%s: %w %q", EnvRetired, ErrUnknownRetired, id)
		}
		k.Retired = true
	}
	return nil
}

func fromEnv(environ []string) (*Keyring, []string, error) {
	r := &Keyring{keys: make(map[string]*Key)}
	var retired []string
	for _, kv := range environ {
		name, val, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		if name == EnvRetired {
			for id := range strings.SplitSeq(val, ",") {
				id = strings.TrimSpace(id)
				if id == "" {
					continue
				}
				if err := CheckID(id); err != nil {
					return nil, nil, fmt.Errorf("keys from environment: %s: %w", EnvRetired, err)
				}
				retired = append(retired, id)
			}
			continue
		}
		id, ok := strings.CutPrefix(name, EnvKeyPrefix)
		if !ok {
			continue
		}
		if err := CheckID(id); err != nil {
			return nil, nil, fmt.Errorf("keys from environment: %s: %w", name, err)
		}
		priv, err := parseSeed(val)
		if err != nil {
			return nil, nil, fmt.Errorf("keys from environment: %s: %w", name, err)
		}
		if err := r.add(&Key{ID: id, Public: priv.PublicHex(), priv: priv}); err != nil {
			return nil, nil, fmt.Errorf("keys from environment: %s: %w", name, err)
		}
	}
	r.sortIDs()
	return r, retired, nil
}

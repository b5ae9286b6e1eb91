package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/stele-go/stele/internal/core/keys"
)

// maxInput bounds any file or stdin the CLI reads. Covenants are limited to
// 1 MiB by the protocol; the slack lets the protocol check report the size.
const maxInput = 16 << 20

// readInput reads path ("-" is standard input) up to maxInput bytes.
func readInput(e *env, path string) ([]byte, error) {
	var r io.Reader
	if path == "-" {
		r = e.stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxInput+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > maxInput {
		return nil, fmt.Errorf("read %s: larger than %d bytes", path, maxInput)
	}
	return b, nil
}

// errKeyPermissions reports a key file that others can read.
var errKeyPermissions = errors.New("key file is readable by group or others")

// loadKey reads a key file written by `stele keygen`: the hex seed (or a
// 64-byte hex private key) on one line. Files readable by group or others are
// refused.
func loadKey(path string) (*keys.PrivateKey, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		// A FIFO or device would block the read, or never end it.
		return nil, fmt.Errorf("%s: not a regular file (%v)", path, st.Mode().Type())
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s: %w (mode %v)", path, errKeyPermissions, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := keys.ParsePrivateKeyHex(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// keyHint explains how to fix a key-loading error.
func keyHint(err error) string {
	switch {
	case errors.Is(err, errKeyPermissions):
		return "run 'chmod 600' on the key file"
	case errors.Is(err, fs.ErrNotExist):
		return "create a key with 'stele keygen --out FILE'"
	default:
		return "a key file holds one line: 64 hex digits (a seed) or 128 (seed and public key)"
	}
}

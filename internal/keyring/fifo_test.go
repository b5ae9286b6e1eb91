//go:build unix

package keyring_test

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stele-go/stele/internal/keyring"
)

// A named pipe where a key file should be is refused, not opened (opening
// it would block the signer's start-up until a writer appeared).
func TestLoadRefusesNamedPipe(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe.key"), 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	_, err := keyring.Load(dir)
	if !errors.Is(err, keyring.ErrInvalidKey) {
		t.Fatalf("Load with a named pipe: %v, want ErrInvalidKey", err)
	}
}

//go:build unix

package main

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A key "file" that is a FIFO would block the read for good: it is refused.
func TestLoadKeyRefusesFIFO(t *testing.T) {
	p := filepath.Join(t.TempDir(), "k.key")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadKey(p); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("loadKey on a FIFO: %v, want a refusal", err)
	}
}

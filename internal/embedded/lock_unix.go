//go:build unix

package embedded

import (
	"fmt"
	"os"
	"syscall"
)

// dirLock is an exclusive advisory lock on a file, released by the kernel if
// the process dies.
type dirLock struct{ f *os.File }

func lockDir(path string) (*dirLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("embedded: lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %s is held by another process (%v)", ErrLocked, path, err)
	}
	return &dirLock{f: f}, nil
}

func (l *dirLock) release() error {
	// Closing the file releases the lock.
	if err := l.f.Close(); err != nil {
		return fmt.Errorf("embedded: unlock: %w", err)
	}
	return nil
}

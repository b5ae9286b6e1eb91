//go:build !unix

package embedded

// dirLock is a no-op where flock is unavailable: the data directory is then
// not protected against a second instance.
type dirLock struct{}

func lockDir(string) (*dirLock, error) { return &dirLock{}, nil }

func (*dirLock) release() error { return nil }

// Package syncbuf provides a buffer that several goroutines may write at once
// (a logger and a child process's output, read by a test).
package syncbuf

import (
	"bytes"
	"sync"
)

// Buffer is a bytes.Buffer safe for concurrent Write and String. The zero
// Buffer is empty, unbounded and ready to use.
type Buffer struct {
	// Max, when positive, stops keeping writes once Max bytes are held
	// (they still succeed): for the output of a long-lived child process.
	Max int

	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p, or drops it once Max bytes are held.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Max > 0 && s.b.Len() > s.Max {
		return len(p), nil
	}
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

package syncbuf_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/stele-go/stele/internal/testutil/syncbuf"
)

func TestConcurrentWrites(t *testing.T) {
	var b syncbuf.Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				b.Write([]byte("ab"))
			}
		})
	}
	wg.Wait()
	if got := b.String(); len(got) != 1600 || strings.Count(got, "ab") != 800 {
		t.Fatalf("%d bytes, %d pairs", len(got), strings.Count(got, "ab"))
	}
}

func TestMax(t *testing.T) {
	b := syncbuf.Buffer{Max: 4}
	for range 3 {
		if n, err := b.Write([]byte("abc")); n != 3 || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if got := b.String(); got != "abcabc" {
		t.Errorf("kept %q, want writes up to the first past Max", got)
	}
}

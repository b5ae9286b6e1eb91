// Package damage breaks files on disk the way faults do, for tests of what
// notices.
package damage

import (
	"bytes"
	"os"
	"testing"
)

// PageSize is the page overwritten by MiddlePage: SQLite's default page.
const PageSize = 4096

// MiddlePage overwrites the page-aligned PageSize bytes in the middle of the
// file at path with 0xa5, leaving its first pages (a database's header and
// schema) intact. The file must hold at least 8 pages.
func MiddlePage(t testing.TB, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() < 8*PageSize {
		t.Fatalf("%s: %d bytes, too small to damage a middle page", path, st.Size())
	}
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xa5}, PageSize), (st.Size()/PageSize/2)*PageSize); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

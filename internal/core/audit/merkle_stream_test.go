package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// streamRoot feeds leaves to a MerkleStream.
func streamRoot(t testing.TB, leaves []string) string {
	t.Helper()
	var s MerkleStream
	for _, l := range leaves {
		if err := s.Add(l); err != nil {
			t.Fatal(err)
		}
	}
	if s.Len() != len(leaves) {
		t.Fatalf("Len %d after %d leaves", s.Len(), len(leaves))
	}
	return s.Root()
}

// streamProof feeds leaves to a ProofStream for index i.
func streamProof(t testing.TB, leaves []string, i int) (Proof, error) {
	t.Helper()
	p := NewProofStream(i)
	for _, l := range leaves {
		if err := p.Add(l); err != nil {
			t.Fatal(err)
		}
	}
	return p.Proof()
}

// sameProof fails unless the streamed proof of leaves[i] is NewProof's, and
// verifies.
func sameProof(t testing.TB, leaves []string, i int) {
	t.Helper()
	want, err := NewProof(leaves, i)
	if err != nil {
		t.Fatalf("n=%d i=%d: NewProof: %v", len(leaves), i, err)
	}
	got, err := streamProof(t, leaves, i)
	if err != nil {
		t.Fatalf("n=%d i=%d: ProofStream: %v", len(leaves), i, err)
	}
	if !equalProofs(got, want) {
		t.Fatalf("n=%d i=%d: streamed proof\n%+v\nNewProof\n%+v", len(leaves), i, got, want)
	}
	if !VerifyProof(got) {
		t.Fatalf("n=%d i=%d: streamed proof rejected", len(leaves), i)
	}
}

func equalProofs(a, b Proof) bool {
	if a.EntryHash != b.EntryHash || a.Index != b.Index || a.Root != b.Root || len(a.Siblings) != len(b.Siblings) ||
		(a.Siblings == nil) != (b.Siblings == nil) {
		return false
	}
	for k := range a.Siblings {
		if a.Siblings[k] != b.Siblings[k] {
			return false
		}
	}
	return true
}

// naiveLevels returns every level of the reference's tree over leaves,
// written as plainly as naiveRoot: an odd level is padded with a copy of its
// last hash before it is paired.
func naiveLevels(leaves []string) [][]string {
	levels := [][]string{leaves}
	for level := leaves; len(level) > 1; {
		if len(level)%2 == 1 {
			level = append(level[:len(level):len(level)], level[len(level)-1])
		}
		var next []string
		for i := 0; i < len(level); i += 2 {
			s := sha256.Sum256([]byte(level[i] + level[i+1]))
			next = append(next, hex.EncodeToString(s[:]))
		}
		levels = append(levels, next)
		level = next
	}
	return levels
}

// naiveProof is the proof of leaf i read off naiveLevels.
func naiveProof(levels [][]string, i int) Proof {
	p := Proof{EntryHash: levels[0][i], Index: i, Siblings: []string{}, Root: levels[len(levels)-1][0]}
	for _, level := range levels[:len(levels)-1] {
		p.Siblings = append(p.Siblings, level[min(i^1, len(level)-1)])
		i /= 2
	}
	return p
}

// TestMerkleStreamMatchesMerkleRoot: for every n from 0 to 600 the streamed
// root is MerkleRoot's and the streamed proof of every index is the
// reference's (read off the padded levels); NewProof is compared, and
// VerifyProof run, for every index up to n = 64 and a sample beyond (they
// cost n and log n hashes a call; every proof equal to the reference's
// verifies, see TestProofsEveryIndex). One ProofStream per index is fed leaf by leaf and
// asked for its proof after every leaf.
func TestMerkleStreamMatchesMerkleRoot(t *testing.T) {
	const top = 600
	all := leafHashes(1<<12 + 3)
	var s MerkleStream
	streams := make([]*ProofStream, top)
	for i := range streams {
		streams[i] = NewProofStream(i)
	}
	if s.Root() != MerkleRoot(nil) {
		t.Fatal("empty root")
	}
	for n := 1; n <= top; n++ {
		leaves := all[:n]
		if err := s.Add(leaves[n-1]); err != nil {
			t.Fatal(err)
		}
		if got, want := s.Root(), MerkleRoot(leaves); got != want {
			t.Fatalf("n=%d: streamed root %s, MerkleRoot %s", n, got, want)
		}
		levels := naiveLevels(leaves)
		for i, ps := range streams {
			if err := ps.Add(leaves[n-1]); err != nil {
				t.Fatal(err)
			}
			if i >= n {
				continue
			}
			got, err := ps.Proof()
			if err != nil {
				t.Fatalf("n=%d i=%d: %v", n, i, err)
			}
			if want := naiveProof(levels, i); !equalProofs(got, want) {
				t.Fatalf("n=%d i=%d: streamed proof\n%+v\nreference\n%+v", n, i, got, want)
			}
			if n <= 64 || i < 2 || i >= n-2 || (i*7+n)%127 == 0 {
				if !VerifyProof(got) {
					t.Fatalf("n=%d i=%d: streamed proof rejected", n, i)
				}
				want, err := NewProof(leaves, i)
				if err != nil || !equalProofs(got, want) {
					t.Fatalf("n=%d i=%d: streamed proof\n%+v\nNewProof\n%+v %v", n, i, got, want, err)
				}
			}
		}
	}
	for _, n := range []int{1023, 1024, 1025, 1<<11 + 1, 3000, 1 << 12, 1<<12 + 3} {
		leaves := all[:n]
		if got, want := streamRoot(t, leaves), MerkleRoot(leaves); got != want {
			t.Fatalf("n=%d: streamed root %s, MerkleRoot %s", n, got, want)
		}
		for i := 0; i < n; i += 257 {
			sameProof(t, leaves, i)
		}
		for i := max(0, n-9); i < n; i++ { // the odd tails
			sameProof(t, leaves, i)
		}
	}
}

// TestMerkleStreamIncremental: Root and Proof may be asked after every leaf
// and the stream goes on unchanged.
func TestMerkleStreamIncremental(t *testing.T) {
	leaves := leafHashes(300)
	var s MerkleStream
	ps := []*ProofStream{NewProofStream(0), NewProofStream(5), NewProofStream(131), NewProofStream(299)}
	for n, l := range leaves {
		if err := s.Add(l); err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			if err := p.Add(l); err != nil {
				t.Fatal(err)
			}
		}
		prefix := leaves[:n+1]
		if got, want := s.Root(), MerkleRoot(prefix); got != want {
			t.Fatalf("n=%d: root %s, want %s", n+1, got, want)
		}
		for _, p := range ps {
			got, err := p.Proof()
			want, werr := NewProof(prefix, p.track.index)
			if (err == nil) != (werr == nil) {
				t.Fatalf("n=%d i=%d: error %v, NewProof's %v", n+1, p.track.index, err, werr)
			}
			if err != nil {
				if err.Error() != werr.Error() || !errors.Is(err, ErrInvalidInput) {
					t.Fatalf("n=%d i=%d: error %q, NewProof's %q", n+1, p.track.index, err, werr)
				}
				continue
			}
			if !equalProofs(got, want) {
				t.Fatalf("n=%d i=%d: proof %+v, want %+v", n+1, p.track.index, got, want)
			}
		}
	}
}

// TestMerkleStreamCase: upper-case digits are accepted and hashed as they
// are, as MerkleRoot does.
func TestMerkleStreamCase(t *testing.T) {
	leaves := leafHashes(5)
	leaves[1] = strings.ToUpper(leaves[1])
	leaves[4] = strings.ToUpper(leaves[4])
	if got, want := streamRoot(t, leaves), MerkleRoot(leaves); got != want {
		t.Fatalf("root %s, want %s", got, want)
	}
	for i := range leaves {
		sameProof(t, leaves, i)
	}
}

// TestMerkleStreamRejects: a leaf that is not 64 hex digits fails with
// ErrInvalidInput and changes nothing; an index out of range fails as with
// NewProof.
func TestMerkleStreamRejects(t *testing.T) {
	leaves := leafHashes(3)
	var s MerkleStream
	p := NewProofStream(1)
	for _, l := range leaves[:2] {
		if err := s.Add(l); err != nil {
			t.Fatal(err)
		}
		if err := p.Add(l); err != nil {
			t.Fatal(err)
		}
	}
	for _, bad := range []string{"", "abc", leaves[2] + "0", leaves[2][:63] + "g", " " + leaves[2][1:], leaves[2][:32] + "\x00" + leaves[2][33:]} {
		if err := s.Add(bad); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("MerkleStream.Add(%q): %v", bad, err)
		}
		if err := p.Add(bad); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("ProofStream.Add(%q): %v", bad, err)
		}
	}
	if s.Len() != 2 || s.Root() != MerkleRoot(leaves[:2]) {
		t.Fatalf("a rejected leaf changed the stream: %d leaves, root %s", s.Len(), s.Root())
	}
	got, err := p.Proof()
	want, _ := NewProof(leaves[:2], 1)
	if err != nil || !equalProofs(got, want) {
		t.Fatalf("a rejected leaf changed the proof: %+v %v", got, err)
	}
	for _, c := range []struct{ n, i int }{{0, 0}, {3, 3}, {3, -1}, {3, 100}} {
		_, err := streamProof(t, leaves[:c.n], c.i)
		_, werr := NewProof(leaves[:c.n], c.i)
		if err == nil || werr == nil || err.Error() != werr.Error() || !errors.Is(err, ErrInvalidInput) {
			t.Errorf("n=%d i=%d: %v, NewProof says %v", c.n, c.i, err, werr)
		}
	}
	var empty MerkleStream
	if empty.Root() != GenesisHash || empty.Len() != 0 {
		t.Error("the zero MerkleStream is not empty")
	}
}

// FuzzStreamingMerkle compares the streams with MerkleRoot and NewProof on
// random leaf counts, indexes and leaves (some in upper case).
func FuzzStreamingMerkle(f *testing.F) {
	for _, s := range []struct {
		n, i uint16
		seed uint64
	}{{0, 0, 1}, {1, 0, 2}, {2, 1, 3}, {3, 2, 4}, {5, 4, 5}, {7, 3, 6}, {8, 7, 7}, {9, 8, 8}, {513, 512, 9}, {1000, 511, 10}, {1025, 1024, 11}} {
		f.Add(s.n, s.i, s.seed)
	}
	f.Fuzz(func(t *testing.T, n16, i16 uint16, seed uint64) {
		n := int(n16 % 2048)
		leaves := make([]string, n)
		all := leafHashes(64)
		for k := range leaves {
			seed = seed*6364136223846793005 + 1442695040888963407
			l := all[seed>>58]
			if seed>>57&1 == 1 {
				l = strings.ToUpper(l)
			}
			leaves[k] = l
		}
		if got, want := streamRoot(t, leaves), MerkleRoot(leaves); got != want {
			t.Fatalf("n=%d: streamed root %s, MerkleRoot %s", n, got, want)
		}
		if n == 0 {
			return
		}
		i := int(i16) % n
		sameProof(t, leaves, i)
		sameProof(t, leaves, n-1)
	})
}

func BenchmarkMerkleStream10k(b *testing.B) {
	leaves := leafHashes(10_000)
	b.ReportAllocs()
	for b.Loop() {
		var s MerkleStream
		for _, l := range leaves {
			if err := s.Add(l); err != nil {
				b.Fatal(err)
			}
		}
		s.Root()
	}
}

func BenchmarkProofStream10k(b *testing.B) {
	leaves := leafHashes(10_000)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p := NewProofStream(i % len(leaves))
		for _, l := range leaves {
			if err := p.Add(l); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := p.Proof(); err != nil {
			b.Fatal(err)
		}
		i += 7919
	}
}

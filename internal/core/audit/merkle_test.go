package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/bits"
	"testing"
)

func leafHashes(n int) []string {
	out := make([]string, n)
	for i := range out {
		s := sha256.Sum256(fmt.Appendf(nil, "leaf %d", i))
		out[i] = hex.EncodeToString(s[:])
	}
	return out
}

// naiveRoot is the reference's algorithm written as plainly as possible: pad
// an odd level with a copy of its last hash, hash the concatenated hex.
func naiveRoot(level []string) string {
	if len(level) == 0 {
		return GenesisHash
	}
	level = append([]string(nil), level...)
	for len(level) > 1 {
		if len(level)%2 == 1 {
			level = append(level, level[len(level)-1])
		}
		var next []string
		for i := 0; i < len(level); i += 2 {
			s := sha256.Sum256([]byte(level[i] + level[i+1]))
			next = append(next, hex.EncodeToString(s[:]))
		}
		level = next
	}
	return level[0]
}

func TestMerkleRootSmall(t *testing.T) {
	if got := MerkleRoot(nil); got != GenesisHash {
		t.Errorf("empty root %s", got)
	}
	one := leafHashes(1)
	if got := MerkleRoot(one); got != one[0] {
		t.Errorf("single leaf root %s, want the leaf", got)
	}
	// Three leaves: the third is paired with itself.
	l := leafHashes(3)
	h := func(a, b string) string { s := sha256.Sum256([]byte(a + b)); return hex.EncodeToString(s[:]) }
	if got, want := MerkleRoot(l), h(h(l[0], l[1]), h(l[2], l[2])); got != want {
		t.Errorf("three leaves: %s, want %s", got, want)
	}
	// MerkleRoot must not modify its input.
	before := append([]string(nil), l...)
	MerkleRoot(l)
	for i := range l {
		if l[i] != before[i] {
			t.Fatal("MerkleRoot modified its input")
		}
	}
}

func TestProofsEveryIndex(t *testing.T) {
	for n := 1; n <= 17; n++ {
		leaves := leafHashes(n)
		root := MerkleRoot(leaves)
		if want := naiveRoot(leaves); root != want {
			t.Fatalf("n=%d: root %s, naive %s", n, root, want)
		}
		depth := bits.Len(uint(n - 1)) // ceil(log2 n)
		for i := range n {
			p, err := NewProof(leaves, i)
			if err != nil {
				t.Fatalf("n=%d i=%d: %v", n, i, err)
			}
			if p.Root != root || p.EntryHash != leaves[i] || p.Index != i || len(p.Siblings) != depth {
				t.Fatalf("n=%d i=%d: proof %+v (depth want %d)", n, i, p, depth)
			}
			if !VerifyProof(p) {
				t.Fatalf("n=%d i=%d: valid proof rejected", n, i)
			}
			for k := range p.Siblings {
				bad := p
				bad.Siblings = append([]string(nil), p.Siblings...)
				bad.Siblings[k] = leaves[(i+1)%n] + "0"
				if VerifyProof(bad) {
					t.Fatalf("n=%d i=%d: altered sibling %d accepted", n, i, k)
				}
			}
			other := p
			other.EntryHash = leaves[(i+1)%n]
			if n > 1 && VerifyProof(other) {
				t.Fatalf("n=%d i=%d: proof accepted for another leaf", n, i)
			}
			moved := p
			moved.Index = i ^ 1
			if n > 1 && moved.Index < n && leaves[moved.Index] != leaves[i] && VerifyProof(moved) {
				t.Fatalf("n=%d i=%d: proof accepted at index %d", n, i, moved.Index)
			}
			// The reference would accept i + 2^depth; we do not.
			far := p
			far.Index = i + 1<<depth
			if VerifyProof(far) {
				t.Fatalf("n=%d i=%d: index beyond the proof accepted", n, i)
			}
		}
		if _, err := NewProof(leaves, n); err == nil {
			t.Errorf("n=%d: out-of-range proof generated", n)
		}
		if _, err := NewProof(leaves, -1); err == nil {
			t.Errorf("n=%d: negative index proof generated", n)
		}
	}
}

func TestVerifyProofRejectsJunk(t *testing.T) {
	leaves := leafHashes(4)
	p, err := NewProof(leaves, 2)
	if err != nil {
		t.Fatal(err)
	}
	for name, q := range map[string]Proof{
		"negative index": {EntryHash: p.EntryHash, Siblings: p.Siblings, Index: -2, Root: p.Root},
		"root changed":   {EntryHash: p.EntryHash, Siblings: p.Siblings, Index: 2, Root: leaves[0]},
		"too long":       {EntryHash: p.EntryHash, Siblings: make([]string, MaxProofLength+1), Index: 0, Root: p.Root},
		"empty":          {},
	} {
		if VerifyProof(q) {
			t.Errorf("%s: accepted", name)
		}
	}
	single := Proof{EntryHash: leaves[0], Siblings: nil, Index: 0, Root: leaves[0]}
	if !VerifyProof(single) {
		t.Error("single-leaf proof rejected")
	}
}

func BenchmarkMerkleRoot10k(b *testing.B) {
	leaves := leafHashes(10_000)
	b.ReportAllocs()
	for b.Loop() {
		MerkleRoot(leaves)
	}
}

func BenchmarkNewProof10k(b *testing.B) {
	leaves := leafHashes(10_000)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := NewProof(leaves, i%len(leaves)); err != nil {
			b.Fatal(err)
		}
		i += 7919
	}
}

func BenchmarkVerifyProof10k(b *testing.B) {
	leaves := leafHashes(10_000)
	p, err := NewProof(leaves, 4321)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if !VerifyProof(p) {
			b.Fatal("rejected")
		}
	}
}

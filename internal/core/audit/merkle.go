package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// MaxProofLength bounds the number of sibling hashes VerifyProof accepts: a
// proof of that length covers 2^64 leaves.
const MaxProofLength = 64

// Proof is a Merkle inclusion proof for one leaf (generateMerkleProof).
type Proof struct {
	// EntryHash is the leaf: the hash of the entry being proven.
	EntryHash string `json:"entryHash"`
	// Siblings are the sibling hashes from the leaf level up.
	Siblings []string `json:"proof"`
	// Index is the position of the leaf.
	Index int `json:"index"`
	// Root is the Merkle root the proof leads to.
	Root string `json:"merkleRoot"`
}

// hashPair returns the SHA-256 hex of the concatenation of the strings left
// and right (not of the bytes they encode), as the reference does.
func hashPair(buf []byte, left, right string) string {
	var out [64]byte
	hashPairInto(&out, append(append(buf[:0], left...), right...))
	return string(out[:])
}

// hashPairInto writes the SHA-256 hex of msg to dst.
func hashPairInto(dst *[64]byte, msg []byte) {
	sum := sha256.Sum256(msg)
	hex.Encode(dst[:], sum[:])
}

// parents computes the level above the leaves into a new slice of hex
// digests; a level of odd length pairs its last hash with itself.
func parents(leaves []string) [][64]byte {
	n := len(leaves)
	level := make([][64]byte, (n+1)/2)
	buf := make([]byte, 0, 128)
	for i := 0; i < n; i += 2 {
		r := min(i+1, n-1)
		buf = append(append(buf[:0], leaves[i]...), leaves[r]...)
		hashPairInto(&level[i/2], buf)
	}
	return level
}

// up replaces the first len(level) digests by their parents, in place, and
// returns the parents' level. Parent i is written after children 2i and 2i+1
// have been read, and no later parent reads it.
func up(level [][64]byte) [][64]byte {
	n := len(level)
	var buf [128]byte
	for i := 0; i < n; i += 2 {
		r := min(i+1, n-1)
		copy(buf[:64], level[i][:])
		copy(buf[64:], level[r][:])
		hashPairInto(&level[i/2], buf[:])
	}
	return level[:(n+1)/2]
}

// MerkleRoot returns the Merkle root of leaves (computeMerkleRoot): GenesisHash
// for none, the leaf itself for one; otherwise each level pairs neighbours,
// repeating the last hash of a level of odd length, and a parent is the
// SHA-256 hex of the concatenated hex strings of its children. Leaves are
// hashed as the strings they are, whatever their length or case.
func MerkleRoot(leaves []string) string {
	switch len(leaves) {
	case 0:
		return GenesisHash
	case 1:
		return leaves[0]
	}
	level := parents(leaves)
	for len(level) > 1 {
		level = up(level)
	}
	return string(level[0][:])
}

// siblingOf returns the index of idx's sibling in a level of n: its
// neighbour, or itself when it is the last of an odd level.
func siblingOf(idx, n int) int {
	return min(idx^1, n-1)
}

// NewProof returns the inclusion proof of leaves[i]. An index out of range
// fails with ErrInvalidInput.
func NewProof(leaves []string, i int) (Proof, error) {
	if i < 0 || i >= len(leaves) {
		return Proof{}, fmt.Errorf("merkle proof: entry index %d is out of range [0, %d): %w", i, len(leaves), ErrInvalidInput)
	}
	p := Proof{EntryHash: leaves[i], Index: i, Siblings: []string{}}
	if len(leaves) == 1 {
		p.Root = leaves[0]
		return p, nil
	}
	p.Siblings = append(p.Siblings, leaves[siblingOf(i, len(leaves))])
	level := parents(leaves)
	idx := i / 2
	for len(level) > 1 {
		p.Siblings = append(p.Siblings, string(level[siblingOf(idx, len(level))][:]))
		level = up(level)
		idx /= 2
	}
	p.Root = string(level[0][:])
	return p, nil
}

// VerifyProof reports whether p leads from EntryHash to Root
// (verifyMerkleProof): at each level the running hash is the left child when
// the index is even. Unlike the reference it also requires the index to fit
// the proof (Index < 2^len(Siblings)), so a proof proves one position only,
// and it rejects negative indexes, empty hashes and proofs longer than
// MaxProofLength.
func VerifyProof(p Proof) bool {
	if p.Index < 0 || len(p.Siblings) > MaxProofLength || p.EntryHash == "" || p.Root == "" {
		return false
	}
	if len(p.Siblings) < 63 && p.Index>>len(p.Siblings) != 0 {
		return false
	}
	buf := make([]byte, 0, 128)
	h := p.EntryHash
	idx := p.Index
	for _, s := range p.Siblings {
		if idx%2 == 0 {
			h = hashPair(buf, h, s)
		} else {
			h = hashPair(buf, s, h)
		}
		idx /= 2
	}
	return equalHash(h, p.Root)
}

package audit

import (
	"fmt"
	"math/bits"
)

// maxLevels is the number of tree levels a stream can hold pending nodes
// for: one per bit of its leaf count.
const maxLevels = 64

// MerkleStream computes the Merkle root of leaves fed to it one at a time,
// in order, in memory independent of their number: one pending node per
// level, a fixed 4 KiB, with no allocation per leaf. Fed the leaves of a
// slice, Root returns exactly what MerkleRoot returns for that slice.
//
// Each leaf must be 64 hex digits (a SHA-256 hex digest, as stored for
// every audit entry); Add rejects anything else with ErrInvalidInput and
// leaves the stream unchanged. Leaves are hashed as the strings they are,
// so upper- and lower-case digits give different roots, as with
// MerkleRoot.
//
// The zero value is an empty stream, ready to use. A MerkleStream is not
// safe for concurrent use.
type MerkleStream struct {
	tree merkleTree
}

// Add appends leaf: 64 hex digits, else an error wrapping ErrInvalidInput.
func (s *MerkleStream) Add(leaf string) error {
	if err := checkLeaf(s.tree.n, leaf); err != nil {
		return err
	}
	s.tree.add(leaf, nil)
	return nil
}

// Len returns the number of leaves added.
func (s *MerkleStream) Len() int { return int(s.tree.n) }

// Root returns the Merkle root of the leaves added so far, as MerkleRoot
// does: GenesisHash for none, the leaf itself for one. It does not change
// the stream: more leaves can be added after it.
func (s *MerkleStream) Root() string { return s.tree.root(nil) }

// ProofStream builds the inclusion proof of one leaf from the leaves fed to
// it one at a time, in order, in memory independent of their number (two
// nodes per level: about 8 KiB). Fed the leaves of a slice, Proof returns
// exactly what NewProof returns for that slice and index: the same
// siblings in the same order, the same root, the same error for an index
// out of range.
//
// Add validates leaves as MerkleStream.Add does. A ProofStream is not safe
// for concurrent use.
type ProofStream struct {
	tree  merkleTree
	track proofTrack
}

// NewProofStream returns an empty stream for the proof of the leaf at
// index. An index that turns out out of range (negative, or not below the
// number of leaves added) is reported by Proof.
func NewProofStream(index int) *ProofStream {
	return &ProofStream{track: proofTrack{index: index}}
}

// Add appends leaf: 64 hex digits, else an error wrapping ErrInvalidInput.
func (p *ProofStream) Add(leaf string) error {
	if err := checkLeaf(p.tree.n, leaf); err != nil {
		return err
	}
	p.tree.add(leaf, &p.track)
	return nil
}

// Len returns the number of leaves added.
func (p *ProofStream) Len() int { return int(p.tree.n) }

// Proof returns the inclusion proof of the stream's index over the leaves
// added so far; an index out of range fails with ErrInvalidInput, as
// NewProof does. It does not change the stream.
func (p *ProofStream) Proof() (Proof, error) {
	i, n := p.track.index, int(p.tree.n)
	if i < 0 || i >= n {
		return Proof{}, fmt.Errorf("merkle proof: entry index %d is out of range [0, %d): %w", i, n, ErrInvalidInput)
	}
	// Finish on a copy: the nodes the root computation completes for the
	// moment (a last node paired with itself) change as leaves are added.
	t := p.track
	root := p.tree.root(&t)
	depth := levels(p.tree.n)
	pr := Proof{EntryHash: string(t.self[0][:]), Index: i, Root: root, Siblings: make([]string, depth)}
	for k := range depth {
		if t.haveSib&(1<<k) != 0 {
			pr.Siblings[k] = string(t.sib[k][:])
		} else {
			// No sibling: the node is the last of an odd level and pairs
			// with itself.
			pr.Siblings[k] = string(t.self[k][:])
		}
	}
	return pr, nil
}

// checkLeaf returns an error wrapping ErrInvalidInput unless leaf, the
// leaf at index i, is 64 hex digits.
func checkLeaf(i uint64, leaf string) error {
	if len(leaf) != 64 {
		return fmt.Errorf("merkle leaf %d: want 64 hex digits, got %d characters: %w", i, len(leaf), ErrInvalidInput)
	}
	// One table look-up a byte, and one branch for all 64: the check is
	// cheaper than the hash it guards.
	var bad byte
	for k := 0; k < len(leaf); k++ {
		bad |= notHex[leaf[k]]
	}
	if bad != 0 {
		for k := 0; k < len(leaf); k++ {
			if notHex[leaf[k]] != 0 {
				return fmt.Errorf("merkle leaf %d: want 64 hex digits, got %q at %d: %w", i, leaf[k], k, ErrInvalidInput)
			}
		}
	}
	return nil
}

// notHex is 1 for the bytes that are not hex digits, 0 for 0-9, a-f, A-F.
var notHex = func() (t [256]byte) {
	for c := range t {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			t[c] = 1
		}
	}
	return t
}()

// levels returns the number of levels below the root of a tree of n
// leaves, the length of its proofs: ceil(log2 n).
func levels(n uint64) int {
	if n <= 1 {
		return 0
	}
	return bits.Len64(n - 1)
}

// merkleTree is the state shared by MerkleStream and ProofStream: the
// number of leaves n and, for each set bit k of n, the root of the
// complete subtree of 2^k leaves that waits for its right neighbour (the
// node at index n>>k - 1 of level k). This is MerkleRoot's tree: level k
// has ceil(n/2^k) nodes, node j of level k+1 is the hash of nodes 2j and
// min(2j+1, last) of level k.
type merkleTree struct {
	n    uint64
	pend [maxLevels][64]byte
}

// proofTrack records, for each level k, the node on the path of leaf index
// (index>>k) and its neighbour ((index>>k)^1) as they are formed.
type proofTrack struct {
	index   int
	haveSib uint64 // bit k: sib[k] holds the neighbour at level k
	sib     [maxLevels][64]byte
	self    [maxLevels][64]byte
}

// see records node j of level k if it is on the path or beside it.
func (t *proofTrack) see(k int, j uint64, node *[64]byte) {
	if t.index < 0 {
		return
	}
	switch on := uint64(t.index) >> k; j {
	case on ^ 1:
		t.sib[k] = *node
		t.haveSib |= 1 << k
	case on:
		t.self[k] = *node
	}
}

// add appends a validated leaf: like incrementing a binary counter, the
// new node is merged with the pending node of each level whose bit is set
// (it is that node's right neighbour), and the result is left pending at
// the first level whose bit is clear. t, if not nil, sees every node
// formed.
func (m *merkleTree) add(leaf string, t *proofTrack) {
	var node [64]byte
	copy(node[:], leaf)
	j := m.n // the new node's index at level k
	k := 0
	if t != nil {
		t.see(0, j, &node)
	}
	var buf [128]byte
	for j&1 == 1 {
		copy(buf[:64], m.pend[k][:])
		copy(buf[64:], node[:])
		hashPairInto(&node, buf[:])
		k++
		j >>= 1
		if t != nil {
			t.see(k, j, &node)
		}
	}
	m.pend[k] = node
	m.n++
}

// root returns the root of the leaves added, completing the tree without
// changing it: at each level, going up, the last node (carry) is the one
// made of the leaves that do not fill a complete subtree; it pairs with
// the pending node if there is one, else with itself. t, if not nil, sees
// the nodes completed this way.
func (m *merkleTree) root(t *proofTrack) string {
	n := m.n
	switch n {
	case 0:
		return GenesisHash
	case 1:
		return string(m.pend[0][:])
	}
	var carry [64]byte
	var buf [128]byte
	have := false // whether level k has a carry (n mod 2^k != 0)
	k := 0
	for ; (n-1)>>k > 0; k++ { // level k has more than one node
		pending := n>>k&1 == 1
		switch {
		case pending && have:
			copy(buf[:64], m.pend[k][:])
			copy(buf[64:], carry[:])
		case pending:
			copy(buf[:64], m.pend[k][:])
			copy(buf[64:], m.pend[k][:])
		case have:
			copy(buf[:64], carry[:])
			copy(buf[64:], carry[:])
		default:
			continue // n is a multiple of 2^(k+1): no carry above
		}
		hashPairInto(&carry, buf[:])
		have = true
		if t != nil {
			t.see(k+1, n>>(k+1), &carry)
		}
	}
	if have {
		return string(carry[:])
	}
	return string(m.pend[k][:])
}

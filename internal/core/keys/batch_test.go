package keys

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"filippo.io/edwards25519"
)

// batchCase is one entry of a batch with the verdict it must get.
type batchCase struct {
	pub, msg, sig []byte
	want          bool
	kind          string
}

// caseMaker builds valid and invalid entries of many kinds from a few keys.
type caseMaker struct {
	t    testing.TB
	keys []*PrivateKey
	rng  *rand.Rand
}

func newCaseMaker(t testing.TB, rng *rand.Rand) *caseMaker {
	t.Helper()
	m := &caseMaker{t: t, rng: rng}
	for i := range 8 {
		k, err := NewPrivateKey(seedN(byte(10 + i)))
		if err != nil {
			t.Fatal(err)
		}
		m.keys = append(m.keys, k)
	}
	return m
}

func (m *caseMaker) valid() batchCase {
	k := m.keys[m.rng.IntN(len(m.keys))]
	msg := make([]byte, m.rng.IntN(200))
	for i := range msg {
		msg[i] = byte(m.rng.Uint32())
	}
	return batchCase{k.Public().Bytes(), msg, k.Sign(msg), true, "valid"}
}

// kinds of entries; the ZIP-215-only ones are valid and must pass the batch.
var caseKinds = []string{
	"wrong message", "flipped R bit", "flipped S bit", "other key", "S+L", "key off curve",
	"short key", "short signature", "torsion in R (valid)", "small-order key (valid)",
}

func (m *caseMaker) make(kind string) batchCase {
	t := m.t
	c := m.valid()
	switch kind {
	case "wrong message":
		c.msg = append(bytes.Clone(c.msg), 'x')
		c.want = false
	case "flipped R bit":
		c.sig = bytes.Clone(c.sig)
		c.sig[m.rng.IntN(32)] ^= 1 << m.rng.IntN(8)
		c.want = false
	case "flipped S bit":
		c.sig = bytes.Clone(c.sig)
		c.sig[32+m.rng.IntN(28)] ^= 1 << m.rng.IntN(8)
		c.want = false
	case "other key":
		// Signed by one key, presented with another.
		signer, other := m.keys[0], m.keys[1]
		c.sig = signer.Sign(c.msg)
		c.pub = other.Public().Bytes()
		c.want = false
	case "S+L":
		// Same group element, S no longer below L.
		c.sig = bytes.Clone(c.sig)
		var carry uint16
		for i, l := range orderLBytes() {
			sum := uint16(c.sig[32+i]) + uint16(l) + carry
			c.sig[32+i] = byte(sum)
			carry = sum >> 8
		}
		c.want = false
	case "key off curve":
		c.pub = make([]byte, 32)
		c.pub[0] = 2 // y = 2 is not on the curve
		c.want = false
	case "short key":
		c.pub = c.pub[:31]
		c.want = false
	case "short signature":
		c.sig = c.sig[:63]
		c.want = false
	case "torsion in R (valid)":
		seed := seedN(byte(10))
		a := secretScalar(t, seed)
		r := randomScalar(t, byte(m.rng.Uint32()))
		rPt := new(edwards25519.Point).ScalarBaseMult(r)
		rPt.Add(rPt, mustPoint(t, mustHex(t, order8Hex)))
		c.pub = m.keys[0].Public().Bytes()
		c.sig = forge(t, c.pub, rPt.Bytes(), r, a, c.msg)
		c.want = true
	case "small-order key (valid)":
		pts := smallOrderPoints(t)
		c.pub = pts[m.rng.IntN(len(pts))]
		c.sig = append(edwards25519.NewIdentityPoint().Bytes(), make([]byte, 32)...)
		c.want = true
	default:
		t.Fatalf("unknown kind %q", kind)
	}
	c.kind = kind
	return c
}

// orderLBytes is L little-endian, computed independently of verify.go.
func orderLBytes() []byte {
	// L = 2^252 + 27742317777372353535851937790883648493
	return []byte{
		0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58,
		0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
		0, 0, 0, 0, 0, 0, 0, 0,
		0, 0, 0, 0, 0, 0, 0, 0x10,
	}
}

func runBatch(t *testing.T, b *BatchVerifier, cases []batchCase) []bool {
	t.Helper()
	for i, c := range cases {
		if got := b.Add(c.pub, c.msg, c.sig); got != i {
			t.Fatalf("Add returned index %d, want %d", got, i)
		}
	}
	if b.Len() != len(cases) {
		t.Fatalf("Len() = %d, want %d", b.Len(), len(cases))
	}
	got := b.Verify()
	if len(got) != len(cases) {
		t.Fatalf("Verify returned %d results for %d entries", len(got), len(cases))
	}
	for i, c := range cases {
		single := Verify(c.pub, c.msg, c.sig)
		if single != c.want {
			t.Fatalf("entry %d (%s): single Verify = %v, test expects %v", i, c.kind, single, c.want)
		}
		if got[i] != single {
			t.Errorf("entry %d (%s): batch says %v, single Verify says %v", i, c.kind, got[i], single)
		}
	}
	return got
}

func TestBatchAllValid(t *testing.T) {
	m := newCaseMaker(t, rand.New(rand.NewPCG(1, 2)))
	var cases []batchCase
	for range 64 {
		cases = append(cases, m.valid())
	}
	b := NewBatchVerifier(len(cases))
	runBatch(t, b, cases)
	if b.batches != 1 || b.singles != 0 {
		t.Errorf("all-valid batch used %d batches and %d single verifications, want 1 and 0", b.batches, b.singles)
	}
}

func TestBatchEmpty(t *testing.T) {
	b := NewBatchVerifier(0)
	if got := b.Verify(); got == nil || len(got) != 0 {
		t.Errorf("empty batch: Verify() = %#v, want an empty slice", got)
	}
	if b.batches != 0 || b.singles != 0 {
		t.Errorf("empty batch did work: %d batches, %d singles", b.batches, b.singles)
	}
	if NewBatchVerifier(-5).Len() != 0 {
		t.Error("NewBatchVerifier(-5) not empty")
	}
}

func TestBatchMalformedEntriesStayOutOfTheBatch(t *testing.T) {
	m := newCaseMaker(t, rand.New(rand.NewPCG(3, 4)))
	var cases []batchCase
	for i := range 40 {
		switch i % 10 {
		case 3:
			cases = append(cases, m.make("short key"))
		case 5:
			cases = append(cases, m.make("short signature"))
		case 7:
			cases = append(cases, m.make("S+L"))
		default:
			cases = append(cases, m.valid())
		}
	}
	cases = append(cases, batchCase{nil, nil, nil, false, "nil"})
	b := NewBatchVerifier(0)
	runBatch(t, b, cases)
	if b.batches != 1 || b.singles != 0 {
		t.Errorf("malformed entries reached the batch: %d batches, %d singles, want 1 and 0", b.batches, b.singles)
	}
}

func TestBatchZIP215EntriesPassTheBatch(t *testing.T) {
	m := newCaseMaker(t, rand.New(rand.NewPCG(5, 6)))
	var cases []batchCase
	for i := range 32 {
		switch i % 4 {
		case 1:
			cases = append(cases, m.make("torsion in R (valid)"))
		case 2:
			cases = append(cases, m.make("small-order key (valid)"))
		default:
			cases = append(cases, m.valid())
		}
	}
	unusual := 0
	for _, c := range cases {
		if !ordinaryEncoding(c.pub) || !ordinaryEncoding(c.sig[:32]) {
			unusual++ // the identity key and R: verified singly
		}
	}
	b := NewBatchVerifier(len(cases))
	runBatch(t, b, cases)
	if b.batches != 1 || b.singles != unusual || unusual == 0 || unusual == len(cases) {
		t.Errorf("cofactored batch did not accept ZIP-215 entries at once: %d batches, %d singles, %d unusual entries",
			b.batches, b.singles, unusual)
	}
}

func TestBatchBisectionFindsOneBadEntry(t *testing.T) {
	m := newCaseMaker(t, rand.New(rand.NewPCG(7, 8)))
	for _, pos := range []int{0, 1, 127, 128, 200, 255} {
		cases := make([]batchCase, 256)
		for i := range cases {
			cases[i] = m.valid()
		}
		cases[pos] = m.make("wrong message")
		b := NewBatchVerifier(256)
		got := runBatch(t, b, cases)
		if got[pos] {
			t.Fatalf("bad entry %d reported valid", pos)
		}
		// One bad entry among 256: eight parts of 32, then eight parts of 4,
		// then four singles; at most 1.25·n entries batched after the first.
		if b.batches > 1+8+8 || b.singles > 4 || b.batched > 256+320 {
			t.Errorf("position %d: %d batches of %d entries in all and %d singles; want at most 17, 576 and 4",
				pos, b.batches, b.batched, b.singles)
		}
	}
}

// TestBatchSearchBudget checks that with many bad entries the search stops
// batching after its budget and falls back to single verification.
func TestBatchSearchBudget(t *testing.T) {
	m := newCaseMaker(t, rand.New(rand.NewPCG(11, 12)))
	cases := make([]batchCase, 256)
	for i := range cases {
		if i%3 == 0 {
			cases[i] = m.make("flipped S bit")
		} else {
			cases[i] = m.valid()
		}
	}
	b := NewBatchVerifier(len(cases))
	runBatch(t, b, cases)
	if b.batched > 256+320 {
		t.Errorf("batched %d entries, budget is 576", b.batched)
	}
	if b.singles > 256 {
		t.Errorf("%d single verifications for 256 entries", b.singles)
	}
}

func TestBatchMatchesSingleVerification(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	m := newCaseMaker(t, rng)
	rounds := 40
	if testing.Short() {
		rounds = 10
	}
	b := NewBatchVerifier(0) // reused across rounds through Reset
	for round := range rounds {
		n := rng.IntN(130)
		badRate := []float64{0, 0.01, 0.05, 0.3, 1}[rng.IntN(5)]
		cases := make([]batchCase, n)
		for i := range cases {
			if rng.Float64() < badRate {
				cases[i] = m.make(caseKinds[rng.IntN(len(caseKinds))])
			} else {
				cases[i] = m.valid()
			}
		}
		t.Run(fmt.Sprintf("round%d_n%d", round, n), func(t *testing.T) {
			b.Reset()
			runBatch(t, b, cases)
		})
	}
}

func TestBatchVerifyTwiceAndReset(t *testing.T) {
	m := newCaseMaker(t, rand.New(rand.NewPCG(9, 10)))
	first := []batchCase{m.valid(), m.make("flipped S bit"), m.valid(), m.valid(), m.valid()}
	b := NewBatchVerifier(2)
	r1 := runBatch(t, b, first)
	r2 := b.Verify()
	if fmt.Sprint(r1) != fmt.Sprint(r2) {
		t.Errorf("second Verify = %v, first = %v", r2, r1)
	}
	r1[0] = false // the caller owns the result
	if r3 := b.Verify(); !r3[0] {
		t.Error("a result slice is shared between Verify calls")
	}

	// Adding after Verify extends the batch.
	extra := m.make("other key")
	if idx := b.Add(extra.pub, extra.msg, extra.sig); idx != len(first) {
		t.Fatalf("Add after Verify returned %d", idx)
	}
	if got := b.Verify(); len(got) != len(first)+1 || got[len(first)] {
		t.Errorf("after a further Add: %v", got)
	}

	b.Reset()
	if b.Len() != 0 || len(b.Verify()) != 0 {
		t.Fatal("Reset left entries")
	}
	second := []batchCase{m.valid(), m.valid(), m.valid(), m.valid(), m.make("wrong message")}
	runBatch(t, b, second)
}

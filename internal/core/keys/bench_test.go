package keys

import (
	"crypto/rand"
	"fmt"
	"testing"
)

func benchKey(b *testing.B) *PrivateKey {
	b.Helper()
	k, err := NewPrivateKey(seedN(1))
	if err != nil {
		b.Fatal(err)
	}
	return k
}

func BenchmarkSign100B(b *testing.B) {
	k := benchKey(b)
	msg := make([]byte, 100)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		k.Sign(msg)
	}
}

func BenchmarkVerify(b *testing.B) {
	k := benchKey(b)
	msg := make([]byte, 100)
	sig, pub := k.Sign(msg), k.Public().Bytes()
	b.ReportAllocs()
	for b.Loop() {
		if !Verify(pub, msg, sig) {
			b.Fatal("invalid")
		}
	}
}

func BenchmarkVerifyHex(b *testing.B) {
	k := benchKey(b)
	msg := make([]byte, 100)
	sigHex, pubHex := k.SignHex(msg), k.PublicHex()
	b.ReportAllocs()
	for b.Loop() {
		if !VerifyHex(pubHex, msg, sigHex) {
			b.Fatal("invalid")
		}
	}
}

// batchInputs returns n signatures over 100-byte messages by 16 keys.
func batchInputs(b testing.TB, n int) (pubs, msgs, sigs [][]byte) {
	b.Helper()
	var ks []*PrivateKey
	for i := range 16 {
		k, err := NewPrivateKey(seedN(byte(i + 1)))
		if err != nil {
			b.Fatal(err)
		}
		ks = append(ks, k)
	}
	for i := range n {
		k := ks[i%len(ks)]
		msg := make([]byte, 100)
		rand.Read(msg)
		pubs = append(pubs, k.Public().Bytes())
		msgs = append(msgs, msg)
		sigs = append(sigs, k.Sign(msg))
	}
	return pubs, msgs, sigs
}

func benchBatch(b *testing.B, n int, bad []int) {
	pubs, msgs, sigs := batchInputs(b, n)
	for _, i := range bad {
		msgs[i] = append([]byte{}, msgs[i]...)
		msgs[i][0] ^= 1
	}
	bv := NewBatchVerifier(n)
	b.ReportAllocs()
	for b.Loop() {
		bv.Reset()
		for i := range n {
			bv.Add(pubs[i], msgs[i], sigs[i])
		}
		res := bv.Verify()
		if res[0] == (len(bad) > 0 && bad[0] == 0) {
			b.Fatal("wrong result")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/sig")
}

func BenchmarkBatchVerify256(b *testing.B) { benchBatch(b, 256, nil) }

// BenchmarkBatchVerify256Bad measures bisection with k bad entries spread
// over the batch.
func BenchmarkBatchVerify256Bad(b *testing.B) {
	for _, k := range []int{1, 4, 16, 64} {
		b.Run(fmt.Sprint(k), func(b *testing.B) {
			var bad []int
			for i := range k {
				bad = append(bad, (i*256/k+7)%256)
			}
			benchBatch(b, 256, bad)
		})
	}
}

func BenchmarkSHA256_10KB(b *testing.B) {
	data := make([]byte, 10<<10)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		SHA256Hex(data)
	}
}

package keys_test

import (
	"fmt"
	"strings"

	"github.com/stele-go/stele/internal/core/keys"
)

func Example() {
	// The reference's test key: seed 00…01.
	k, err := keys.ParsePrivateKeyHex(strings.Repeat("0", 63) + "1")
	if err != nil {
		panic(err)
	}
	msg := []byte("hello world")
	sig := k.SignHex(msg)
	fmt.Println(k.PublicHex())
	fmt.Println(sig)
	fmt.Println(keys.VerifyHex(k.PublicHex(), msg, sig))
	fmt.Println(keys.VerifyHex(k.PublicHex(), []byte("hello world!"), sig))
	// Output:
	// 4cb5abf6ad79fbf5abbccafcc269d85cd2651ed4b885b5869f241aedf0a5ba29
	// c26fb737a5b0fbab343d9ac8d804f836f5426fec854416025a891cd245a398c2fb8539757e44af9789b6b0f80e19aa0ae07709580af17ebb794595362566c705
	// true
	// false
}

func ExampleBatchVerifier() {
	signer, err := keys.NewPrivateKey(make([]byte, 32))
	if err != nil {
		panic(err)
	}
	b := keys.NewBatchVerifier(8)
	for i := range 8 {
		msg := fmt.Appendf(nil, "document %d", i)
		sig := signer.Sign(msg)
		if i == 5 {
			msg = []byte("tampered") // signature no longer matches
		}
		b.Add(signer.Public().Bytes(), msg, sig)
	}
	b.Add(signer.Public().Bytes(), []byte("short signature"), []byte{1, 2, 3})
	fmt.Println(b.Verify())
	// Output:
	// [true true true true true false true true false]
}

func ExampleSHA256Hex() {
	fmt.Println(keys.SHA256Hex([]byte("hello")))
	// Output:
	// 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824
}

func ExampleDecodeHex() {
	b, err := keys.DecodeHex("FF00ab")
	fmt.Println(b, err)
	_, err = keys.DecodeHex("abc")
	fmt.Println(err)
	// Output:
	// [255 0 171] <nil>
	// keys: invalid hex: odd length 3
}

func ExampleNonce() {
	n, err := keys.Nonce()
	if err != nil {
		panic(err)
	}
	fmt.Println(len(n))
	// Output:
	// 64
}

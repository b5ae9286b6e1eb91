package covenant

import (
	"testing"

	"github.com/stele-go/stele/internal/core/canon"
)

func TestDocumentSize(t *testing.T) {
	c := loadCorpus(t)
	docs, _, names := c.all()
	docs = append(docs, fullDocument(t))
	names = append(names, "full")
	for _, js := range []string{
		validJSON,
		`{"__proto__":{"a":1},"id":"x","version":"1.0","constraints":"c","nonce":"n","createdAt":"c","signature":"s","issuer":{"id":"i","publicKey":"k","role":"issuer"},"beneficiary":{"id":"b","publicKey":"k","role":"beneficiary"}}`,
		`{"id":"x","version":"1.0","constraints":"c","nonce":"n","createdAt":"c","signature":"s","issuer":{"id":"i","publicKey":"k","role":"issuer"},"beneficiary":{"id":"b","publicKey":"k","role":"beneficiary"},"metadata":{"custom":[{"__proto__":null}]},"countersignatures":[1,"\u2028",{"x":1e21}]}`,
	} {
		d, err := Parse([]byte(js))
		if err != nil {
			t.Fatal(err)
		}
		docs, names = append(docs, d), append(names, js)
	}
	for i, d := range docs {
		want := canon.JSONSize(d.Object())
		if got := documentSize(d.Object(), len(d.CanonicalForm())); got != want {
			t.Errorf("%s: documentSize %d, JSONSize %d", names[i], got, want)
		}
	}
}

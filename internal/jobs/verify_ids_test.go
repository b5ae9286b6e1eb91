package jobs_test

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/store"
)

func TestVerifyItemIDsNormalised(t *testing.T) {
	for _, sk := range storeKinds {
		t.Run(sk.name, func(t *testing.T) {
			ctx := testContext(t)
			st := sk.open(t)
			h, err := jobs.NewVerifyHandler(jobs.VerifyConfig{Documents: st})
			if err != nil {
				t.Fatal(err)
			}
			doc := regBuild(t, regKey(t, 31), "permit read on '/**'", nil)
			// Stored by verifying it inline.
			if res, err := h.HandleChunk(ctx, &jobs.Chunk{V: 1, JobID: "put", Kind: store.KindVerify, Items: inlineItems(doc)}); err != nil || !res[0].Valid {
				t.Fatalf("inline: %+v, %v", res, err)
			}
			// A legacy staged copy, kept as a document named blob:<sha256>.
			raw := doc.AppendJSON(nil)
			sum := sha256Hex(raw)
			if err := st.PutDocuments(ctx, []store.Document{{ID: "blob:" + sum, JSON: raw}}); err != nil {
				t.Fatal(err)
			}
			items := []jobs.Item{
				{Index: 0, DocumentID: strings.ToUpper(doc.ID())},
				{Index: 1, DocumentID: "not-an-id"},
				{Index: 2, DocumentID: "blob:" + sum},
				{Index: 3, Blob: "zz"},
				{Index: 4, DocumentID: strings.Repeat("0", 64)},
			}
			res, err := h.HandleChunk(ctx, &jobs.Chunk{V: 1, JobID: "ids", Kind: store.KindVerify, Items: items})
			if err != nil {
				t.Fatal(err)
			}
			if r := res[0]; !r.Valid || r.Error != "" || r.DocumentID != doc.ID() {
				t.Errorf("upper-case documentId: %+v; want the stored document, valid", r)
			}
			wantErr := []string{"", "documentId is not a covenant ID (64 hex digits)", "documentId is not a covenant ID (64 hex digits)",
				"blob is not a SHA-256 (64 hex digits)", "document not found"}
			for i, w := range wantErr[1:] {
				r := res[i+1]
				if r.Error != w || r.Valid || r.Checks != nil {
					t.Errorf("item %d: %+v; want error %q", i+1, r, w)
				}
			}
			if res[4].DocumentID != strings.Repeat("0", 64) {
				t.Errorf("not-found item names %q", res[4].DocumentID)
			}
		})
	}
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

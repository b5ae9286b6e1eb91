package covenant

import "context"

// VerifyBatch verifies docs together: every issuer signature and
// countersignature of the batch (not answered by the signature cache) goes
// into one Ed25519 batch verification, and the clock is read once. Results
// are index-aligned with docs and identical to verifying each document with
// Verify; a nil entry gives an invalid Result without checks.
func (v *Verifier) VerifyBatch(docs []*Document) []Result {
	return v.VerifyBatchContext(context.Background(), docs)
}

// VerifyBatchContext is VerifyBatch with a context for the signature cache.
func (v *Verifier) VerifyBatchContext(ctx context.Context, docs []*Document) []Result {
	results := make([]Result, len(docs))
	if len(docs) == 0 {
		return results
	}
	nowMs := v.nowMillis()
	sc := v.getScratch()
	states := sc.batchStates(len(docs))
	live := make([]*verification, 0, len(docs))
	sc.checks = make([]Check, len(checkNames)*len(docs)) // owned by the results
	for i, doc := range docs {
		if doc == nil || doc.empty() {
			continue
		}
		states[i].prepare(doc, nowMs, sc)
		live = append(live, &states[i])
	}
	v.resolve(ctx, live, true)
	for i := range states {
		if states[i].doc == nil {
			continue
		}
		states[i].finish()
		results[i] = states[i].res
	}
	clear(states) // drop the references to documents and canonical forms
	v.putScratch(sc)
	return results
}

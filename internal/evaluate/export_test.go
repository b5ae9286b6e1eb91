package evaluate

// SetTrailPages sets the number of hashes Proof and VerifyTrail read at a
// time, and of entries VerifyTrail reads at a time, until restore is called.
// Tests that call it must not run in parallel with others of the package.
func SetTrailPages(hashes, entries int) (restore func()) {
	h, e := hashPage, verifyPage
	hashPage, verifyPage = hashes, entries
	return func() { hashPage, verifyPage = h, e }
}

// TrailPages returns the page sizes SetTrailPages sets.
func TrailPages() (hashes, entries int) { return hashPage, verifyPage }

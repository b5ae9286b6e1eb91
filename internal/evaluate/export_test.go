package evaluate

// SetTrailPages sets the number of hashes s's Proof and VerifyTrail read at
// a time, and of entries VerifyTrail reads at a time.
func SetTrailPages(s *Service, hashes, entries int) {
	s.hashPage, s.verifyPage = hashes, entries
}

// TrailPages returns s's trail page sizes.
func TrailPages(s *Service) (hashes, entries int) { return s.hashPage, s.verifyPage }

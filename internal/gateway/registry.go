package gateway

// registryRoutes registers the covenant registry's routes: signing,
// countersigning, storing, listing and chains, and the revocation list.
func (s *Server) registryRoutes(rt *router) {
	rt.handle("POST /v1/sign", s.operator(s.handleSign))
	rt.handle("POST /v1/countersign", s.operator(s.handleCountersign))
	rt.handle("PUT /v1/covenants", s.handlePutCovenant)
	rt.handle("GET /v1/covenants", s.handleListCovenants)
	rt.handle("GET /v1/covenants/{id}/chain", s.noParams(s.handleChain))
	rt.handle("POST /v1/revocations", s.operator(s.noParams(s.handleRevoke)))
	rt.handle("GET /v1/revocations", s.noParams(s.handleRevocations))
	rt.handle("GET /v1/keys", s.noParams(s.handleKeys))
}

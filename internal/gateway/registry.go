package gateway

// registryRoutes registers the covenant registry's routes: signing,
// countersigning, storing, listing and chains.
func (s *Server) registryRoutes(rt *router) {}

package gateway

// evaluateRoutes registers action evaluation and the audit trail's routes.
func (s *Server) evaluateRoutes(rt *router) {}

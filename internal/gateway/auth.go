package gateway

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// Operator routes act with the operator's authority: signing and
// countersigning with the signers' keys, revoking keys and trimming audit
// trails. With Config.AdminToken set they require it as a bearer token; the
// other routes (verification, evaluation, reads) stay open. Scoped API keys
// are to replace the single token.

// adminGate checks bearer tokens against the operator token, comparing
// SHA-256 digests in constant time (the token's length leaks nothing
// either). The zero adminGate admits every request.
type adminGate struct {
	digest [sha256.Size]byte
	on     bool
}

func newAdminGate(token string) adminGate {
	token = strings.TrimSpace(token) // as the header's is
	if token == "" {
		return adminGate{}
	}
	return adminGate{digest: sha256.Sum256([]byte(token)), on: true}
}

// allows reports whether r carries the operator token (always, when none
// is configured).
func (g adminGate) allows(r *http.Request) bool {
	if !g.on {
		return true
	}
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	d := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return subtle.ConstantTimeCompare(d[:], g.digest[:]) == 1
}

// operator wraps the handler of an operator route.
func (s *Server) operator(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.admin.allows(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="stele"`)
			s.fail(w, r, fieldError(ErrUnauthorized, "Authorization", "this route needs the operator's token: Authorization: Bearer <token>"))
			return
		}
		h(w, r)
	}
}

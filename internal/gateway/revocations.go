package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/stele-go/stele/internal/core/jstime"
	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/store"
)

// The revocation list's admin routes. A revoked key signs nothing new
// (sign requests naming it fail with revoked_key) and every covenant it
// signed verifies as invalid (key_not_revoked), whenever it was signed.

// revocationConflict is the 409 answer: the error and the record that
// already revokes the key.
type revocationConflict struct {
	Error      errorDetail    `json:"error"`
	Revocation revocationView `json:"revocation"`
}

// revocationView is a revocation as the API shows it: revokedAt in the
// reference's timestamp form (milliseconds, always three digits), as
// covenants and audit entries give theirs.
type revocationView struct {
	PublicKey string `json:"publicKey"`
	KeyID     string `json:"keyId,omitempty"`
	Reason    string `json:"reason"`
	RevokedAt string `json:"revokedAt"`
}

func viewRevocation(r store.Revocation) revocationView {
	return revocationView{PublicKey: r.PublicKey, KeyID: r.KeyID, Reason: r.Reason, RevokedAt: jstime.Format(r.RevokedAt)}
}

// handleRevoke is POST /v1/revocations: {"keyId"|"publicKey", "reason"}. A
// key ID is resolved to its public key through the key directory. 201 with
// the record; 409 with the existing record when the key is already revoked.
// Either way this gateway's next evaluation honours the revocation (see
// evaluate.Service.RevocationsChanged), and so do the other gateways' once
// the announcement on jobs.SubjectRevocationsChanged has reached them.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	if err := requireJSON(r); err != nil {
		s.fail(w, r, err)
		return
	}
	body, err := readJSONBody(w, r, maxSmallBodyBytes, maxParamDepth)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var rev store.Revocation
	seenReason := false
	err = walkObject(body, "body", "an object {keyId or publicKey, reason}", func(key, field string, val json.RawMessage) error {
		var err error
		switch key {
		case "keyId":
			rev.KeyID, err = parseKeyID(field, val)
		case "publicKey":
			rev.PublicKey, err = parsePublicKey(field, val)
		case "reason":
			seenReason = true
			if rev.Reason, err = parseString(field, val); err == nil {
				switch {
				case len(rev.Reason) > maxReasonBytes:
					err = fieldError(ErrInvalidField, field, "longer than %d bytes", maxReasonBytes)
				case !utf8.ValidString(rev.Reason):
					err = fieldError(ErrInvalidField, field, "must be valid UTF-8")
				}
			}
		default:
			err = unknownField(field, "keyId, publicKey, reason")
		}
		return err
	})
	switch {
	case err != nil:
	case rev.KeyID == "" && rev.PublicKey == "":
		err = fieldError(ErrMissingField, "keyId", "required: keyId or publicKey")
	case rev.KeyID != "" && rev.PublicKey != "":
		err = fieldError(ErrInvalidField, "publicKey", "give keyId or publicKey, not both")
	case !seenReason || rev.Reason == "":
		err = fieldError(ErrMissingField, "reason", "required: why the key is revoked")
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ctx, cancel := withTimeout(r.Context())
	defer cancel()
	// Resolve the key ID, or name the public key's ID when a signer
	// advertises it. Read the directory afresh: revocation is rare and must
	// not act on a stale view.
	dir, err := s.keyDir.c.Refresh(ctx, time.Now())
	if err != nil {
		if rev.KeyID != "" {
			s.fail(w, r, fmt.Errorf("revoke: %w", err))
			return
		}
		// A revocation by public key does not need the directory (it only
		// names the key ID): an unreadable directory must not hold up an
		// emergency revocation.
		s.log.WarnContext(ctx, "revoke: key directory unreadable; revoking by public key without its key ID", "err", err)
		dir = nil
	}
	if rev.KeyID != "" {
		k, ok := dir[rev.KeyID]
		if !ok {
			s.fail(w, r, fieldError(ErrNotFound, "keyId", "no signer advertises key %q; revoke it by publicKey", rev.KeyID))
			return
		}
		rev.PublicKey = k.PublicKey
	} else {
		for id, k := range dir {
			if k.PublicKey == rev.PublicKey {
				rev.KeyID = id
				break
			}
		}
	}
	rev.RevokedAt = s.now().UTC().Truncate(time.Millisecond)
	err = s.store.RevokeKey(ctx, rev)
	if err == nil || errors.Is(err, store.ErrExists) {
		// This gateway's evaluations honour the revocation from the next one
		// on, not after the evaluation service's refresh period.
		if rerr := s.eval.RevocationsChanged(ctx); rerr != nil {
			s.log.WarnContext(ctx, "revoke: the revocation list could not be re-read; evaluations honour the revocation within the refresh period",
				"publicKey", rev.PublicKey, "err", rerr)
		}
		// And every other gateway's (this one's own subscription re-reads
		// once more, harmlessly).
		if perr := s.nc.Publish(jobs.SubjectRevocationsChanged, nil); perr != nil {
			s.log.WarnContext(ctx, "revoke: announcing the revocation to the other gateways failed; they honour it within the refresh period",
				"publicKey", rev.PublicKey, "err", perr)
		}
	}
	if errors.Is(err, store.ErrExists) {
		existing, rerr := s.store.RevokedKeys(ctx, []string{rev.PublicKey})
		if rerr != nil {
			s.fail(w, r, fmt.Errorf("revoke %s: read the existing record: %w", rev.PublicKey, rerr))
			return
		}
		status, code := statusAndCode(ErrConflict)
		writeJSON(w, status, revocationConflict{
			Error:      errorDetail{Code: code, Message: "the key is already revoked", Field: "publicKey"},
			Revocation: viewRevocation(existing[rev.PublicKey]),
		})
		return
	}
	if err != nil {
		s.fail(w, r, fmt.Errorf("revoke %s: %w", rev.PublicKey, err))
		return
	}
	s.log.InfoContext(ctx, "key revoked", "publicKey", rev.PublicKey, "keyId", rev.KeyID, "reason", rev.Reason)
	writeJSON(w, http.StatusCreated, viewRevocation(rev))
}

// revocationList is the answer of GET /v1/revocations.
type revocationList struct {
	Items []revocationView `json:"items"`
}

// handleRevocations is GET /v1/revocations: every record, oldest first.
func (s *Server) handleRevocations(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := withTimeout(r.Context())
	defer cancel()
	revs, err := s.store.ListRevocations(ctx)
	if err != nil {
		s.fail(w, r, fmt.Errorf("list revocations: %w", err))
		return
	}
	list := revocationList{Items: make([]revocationView, len(revs))}
	for i, rv := range revs {
		list.Items[i] = viewRevocation(rv)
	}
	writeJSON(w, http.StatusOK, list)
}

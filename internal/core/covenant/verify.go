package covenant

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stele-go/stele/internal/core/canon"
	"github.com/stele-go/stele/internal/core/ccl"
	"github.com/stele-go/stele/internal/core/jstime"
	"github.com/stele-go/stele/internal/core/keys"
)

// Names of the eleven verification checks, in the order they run.
const (
	CheckIDMatch           = "id_match"
	CheckSignatureValid    = "signature_valid"
	CheckNotExpired        = "not_expired"
	CheckActive            = "active"
	CheckCCLParses         = "ccl_parses"
	CheckEnforcementValid  = "enforcement_valid"
	CheckProofValid        = "proof_valid"
	CheckChainDepth        = "chain_depth"
	CheckDocumentSize      = "document_size"
	CheckCountersignatures = "countersignatures"
	CheckNoncePresent      = "nonce_present"
)

// Check is the outcome of one verification check; Message is the reference's
// message for that outcome.
type Check struct {
	Name    string
	Passed  bool
	Message string
}

// Result is the outcome of verifying one document: Valid is true when every
// check passed. Checks always holds the eleven checks in order, except for a
// nil document, which is invalid with no checks.
type Result struct {
	Valid    bool
	Checks   []Check
	Document *Document
}

// Failed returns the names of the checks that failed, in order.
func (r Result) Failed() []string {
	var out []string
	for _, c := range r.Checks {
		if !c.Passed {
			out = append(out, c.Name)
		}
	}
	return out
}

// Check returns the named check.
func (r Result) Check(name string) (Check, bool) {
	for _, c := range r.Checks {
		if c.Name == name {
			return c, true
		}
	}
	return Check{}, false
}

// SignatureCache remembers Ed25519 outcomes so that a document seen again
// costs no signature verification. Keys are SHA-256 values over the SHA-256 of
// the canonical form (the recomputed ID, never the claimed one), the public
// key and the signature, so an entry can only be hit by the very same
// (message, key, signature) triple. GetSigs returns, per key, 0 when unknown,
// 1 when valid, 2 when invalid. Implementations must be safe for concurrent
// use; store.SigCache satisfies this interface. A cache error is logged and
// the signatures are verified as if the cache were absent.
type SignatureCache interface {
	GetSigs(ctx context.Context, keys [][32]byte) ([]byte, error)
	PutSigs(ctx context.Context, keys [][32]byte, valid []bool) error
}

// Verifier runs the reference's verifyCovenant checks (§3.6). A Verifier is
// safe for concurrent use. The zero Verifier verifies as of the current time
// without a cache; NewVerifier also gives it a pool of scratch memory.
type Verifier struct {
	now   func() time.Time
	cache SignatureCache
	log   *slog.Logger
	pool  *sync.Pool // of *scratch, shared by copies made with At
}

// VerifierOption configures a Verifier.
type VerifierOption func(*Verifier) error

// WithClock sets the clock the expiry and activation checks read (once per
// Verify or VerifyBatch call): verification "as of" now(). Default time.Now.
func WithClock(now func() time.Time) VerifierOption {
	return func(v *Verifier) error {
		if now == nil {
			return errorf("WithClock: nil clock: %w", ErrInvalidOption)
		}
		v.now = now
		return nil
	}
}

// WithSignatureCache makes the Verifier consult and fill c.
func WithSignatureCache(c SignatureCache) VerifierOption {
	return func(v *Verifier) error {
		if c == nil {
			return errorf("WithSignatureCache: nil cache: %w", ErrInvalidOption)
		}
		v.cache = c
		return nil
	}
}

// WithLogger sets the logger for cache failures. Default slog.Default().
func WithLogger(l *slog.Logger) VerifierOption {
	return func(v *Verifier) error {
		if l == nil {
			return errorf("WithLogger: nil logger: %w", ErrInvalidOption)
		}
		v.log = l
		return nil
	}
}

// NewVerifier returns a Verifier; an invalid option yields an error matching
// ErrInvalidOption.
func NewVerifier(opts ...VerifierOption) (*Verifier, error) {
	v := &Verifier{now: time.Now, pool: new(sync.Pool)}
	for _, opt := range opts {
		if err := opt(v); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// At returns a copy of v that verifies as of t.
func (v *Verifier) At(t time.Time) *Verifier {
	c := *v
	c.now = func() time.Time { return t }
	return &c
}

// Verify checks doc as of the current time with no cache; it is
// NewVerifier().Verify(doc).
func Verify(doc *Document) Result {
	v := Verifier{now: time.Now}
	return v.Verify(doc)
}

// Verify runs the eleven checks on doc. It never fails: problems are failed
// checks. A nil doc gives an invalid Result without checks.
func (v *Verifier) Verify(doc *Document) Result {
	return v.VerifyContext(context.Background(), doc)
}

// VerifyContext is Verify with a context for the signature cache.
func (v *Verifier) VerifyContext(ctx context.Context, doc *Document) Result {
	if doc == nil || doc.empty() {
		return Result{}
	}
	sc := v.getScratch()
	var vr verification
	vr.prepare(doc, v.nowMillis(), sc)
	v.resolve(ctx, []*verification{&vr}, false)
	vr.finish()
	v.putScratch(sc)
	return vr.res
}

func (v *Verifier) nowMillis() int64 {
	if v.now == nil {
		return time.Now().UnixMilli()
	}
	return v.now().UnixMilli()
}

func (v *Verifier) logger() *slog.Logger {
	if v.log != nil {
		return v.log
	}
	return slog.Default()
}

// sigSlot is one Ed25519 signature a verification needs.
type sigSlot struct {
	pub     [32]byte
	sig     [64]byte
	msg     []byte
	digest  [32]byte // SHA-256 of msg
	outcome uint8    // 0 unknown, 1 valid, 2 invalid
	label   string   // countersignatures: how the signer is named in a failure
}

// verification is the state of one document between the checks that need no
// signature and the signature checks.
type verification struct {
	doc       *Document
	res       Result
	canonical []byte
	digest    [32]byte
	slots     []sigSlot  // [0] issuer, then countersignatures
	slotBuf   [1]sigSlot // the issuer's; countersignatures append
	csMessage string     // countersignatures check message when decided without slots
	csEntries int        // number of countersignatures to verify (len(slots)-1)
}

var checkNames = [11]string{
	CheckIDMatch, CheckSignatureValid, CheckNotExpired, CheckActive, CheckCCLParses,
	CheckEnforcementValid, CheckProofValid, CheckChainDepth, CheckDocumentSize,
	CheckCountersignatures, CheckNoncePresent,
}

const (
	iIDMatch = iota
	iSignature
	iNotExpired
	iActive
	iCCL
	iEnforcement
	iProof
	iChainDepth
	iSize
	iCountersignatures
	iNonce
)

// scratch is memory reused across verifications: a backing array for checks
// (batches only: a single Result owns its checks), chunks of memory for
// canonical forms (slices of a chunk stay valid when a later append moves
// it) and, for batches, the verification states.
type scratch struct {
	checks []Check
	arena  []byte   // the chunk being written
	chunks [][]byte // every chunk allocated, for reuse
	used   int      // chunks[:used] have been handed out since the last reset
	states []verification
}

// Arena sizes: canonical forms are written into chunks of arenaChunk bytes,
// a new chunk being started when fewer than arenaReserve bytes remain; a
// Verifier keeps up to maxPooledChunks chunks and the states of batches of
// up to maxPooledStates documents for reuse.
const (
	arenaChunk      = 64 << 10
	arenaReserve    = 4 << 10
	maxPooledChunks = 16
	maxPooledStates = 4096
)

// reserve makes room in the arena for a canonical form, moving to the next
// chunk (reused, or new) when the current one is nearly full. A form larger
// than the room left still fits: append then moves it to a larger array.
func (sc *scratch) reserve() {
	if cap(sc.arena)-len(sc.arena) >= arenaReserve {
		return
	}
	if sc.used < len(sc.chunks) {
		sc.arena = sc.chunks[sc.used][:0]
	} else {
		sc.arena = make([]byte, 0, arenaChunk)
		sc.chunks = append(sc.chunks, sc.arena)
	}
	sc.used++
}

// batchStates returns n zero verification states.
func (sc *scratch) batchStates(n int) []verification {
	if cap(sc.states) >= n {
		return sc.states[:n]
	}
	states := make([]verification, n)
	if n <= maxPooledStates {
		sc.states = states
	}
	return states
}

func (v *Verifier) getScratch() *scratch {
	if v.pool != nil {
		if sc, ok := v.pool.Get().(*scratch); ok {
			return sc
		}
	}
	return new(scratch)
}

// putScratch returns sc to the pool once nothing refers to its memory any
// more: the verifications are finished and their states cleared.
func (v *Verifier) putScratch(sc *scratch) {
	if v.pool == nil || len(sc.chunks) > maxPooledChunks {
		return
	}
	sc.arena = nil
	sc.used = 0
	sc.checks = nil
	v.pool.Put(sc)
}

// prepare computes the canonical form once and runs every check that needs
// no Ed25519 work; it records the signatures to verify in slots.
func (vr *verification) prepare(doc *Document, nowMs int64, sc *scratch) {
	o := doc.object()
	vr.doc = doc
	var checks []Check
	if len(sc.checks) >= len(checkNames) {
		checks = sc.checks[:len(checkNames):len(checkNames)]
		sc.checks = sc.checks[len(checkNames):]
	} else {
		checks = make([]Check, len(checkNames))
	}
	vr.res = Result{Checks: checks, Document: doc}

	sc.reserve()
	start := len(sc.arena)
	sc.arena = canon.AppendCanonicalExcept(sc.arena, o, excluded[:]...)
	vr.canonical = sc.arena[start:len(sc.arena):len(sc.arena)]
	vr.digest = sha256.Sum256(vr.canonical)
	size := documentSize(o, len(vr.canonical))

	// 1. id_match
	var idHex [64]byte
	hexEncode(idHex[:], vr.digest[:])
	id, _ := o.String("id")
	if equalHexConstantTime(id, &idHex) {
		checks[iIDMatch] = Check{CheckIDMatch, true, "Document ID matches canonical hash"}
	} else {
		checks[iIDMatch] = Check{CheckIDMatch, false, "ID mismatch: expected " + string(idHex[:]) + ", got " + id}
	}

	// 2. signature_valid: queued.
	vr.slots = vr.slotBuf[:0]
	issuer, _ := o.Object("issuer")
	sigHex, sigOK := o.String("signature")
	pubHex, pubOK := issuer.String("publicKey")
	vr.addSlot(pubHex, pubOK, sigHex, sigOK, "")

	// 3. not_expired
	if exp := validityOf(o, "expiresAt"); !exp.Set {
		checks[iNotExpired] = Check{CheckNotExpired, true, "No expiry set"}
	} else if !exp.ExpiredAt(nowMs) {
		checks[iNotExpired] = Check{CheckNotExpired, true, "Document has not expired"}
	} else {
		checks[iNotExpired] = Check{CheckNotExpired, false, "Document expired at " + exp.Raw()}
	}

	// 4. active
	if act := validityOf(o, "activatesAt"); !act.Set {
		checks[iActive] = Check{CheckActive, true, "No activation time set"}
	} else if !act.PendingAt(nowMs) {
		checks[iActive] = Check{CheckActive, true, "Document is active"}
	} else {
		checks[iActive] = Check{CheckActive, false, "Document activates at " + act.Raw()}
	}

	// 5. ccl_parses
	checks[iCCL] = cclCheck(o)

	// 6. enforcement_valid, 7. proof_valid
	checks[iEnforcement] = typeCheck(o, "enforcement", CheckEnforcementValid, "Enforcement", "enforcement",
		"No enforcement config present", ValidEnforcementType)
	checks[iProof] = typeCheck(o, "proof", CheckProofValid, "Proof", "proof", "No proof config present", ValidProofType)

	// 8. chain_depth
	if v, ok := o.Get("chain"); ok && truthy(v) {
		var d any
		var present bool
		if c, isObj := v.(*canon.Object); isObj {
			d, present = c.Get("depth")
		}
		n := math.NaN()
		if present {
			n = jsToNumber(d)
		}
		ds := jsString(d, present)
		if n >= 1 && n <= MaxChainDepth {
			checks[iChainDepth] = Check{CheckChainDepth, true, chainDepthMessage(d, ds)}
		} else {
			checks[iChainDepth] = Check{CheckChainDepth, false, "Chain depth " + ds + " exceeds maximum of " + strconv.Itoa(MaxChainDepth)}
		}
	} else {
		checks[iChainDepth] = Check{CheckChainDepth, true, "No chain reference present"}
	}

	// 9. document_size
	if size <= MaxDocumentSize {
		checks[iSize] = Check{CheckDocumentSize, true, "Document size " + strconv.Itoa(size) + " bytes is within limit"}
	} else {
		checks[iSize] = Check{CheckDocumentSize, false, "Document size " + strconv.Itoa(size) + " bytes exceeds maximum of " + strconv.Itoa(MaxDocumentSize)}
	}

	// 10. countersignatures: queued (or decided here when there are none).
	vr.prepareCountersignatures(o)

	// 11. nonce_present
	checks[iNonce] = nonceCheck(o)
}

// malformedSigner labels a countersignature the reference cannot even
// report (it throws on it); we fail the check instead.
const malformedSigner = "(malformed countersignature)"

func (vr *verification) prepareCountersignatures(o *canon.Object) {
	v, ok := o.Get("countersignatures")
	if !ok || !truthy(v) {
		vr.csMessage = "No countersignatures present"
		return
	}
	switch x := v.(type) {
	case []any:
		if len(x) == 0 {
			vr.csMessage = "No countersignatures present"
			return
		}
		for _, e := range x {
			cs, isObj := e.(*canon.Object)
			if !isObj || cs == nil {
				vr.slots = append(vr.slots, sigSlot{outcome: 2, label: malformedSigner})
				vr.csEntries++
				continue
			}
			pubV, pubPresent := cs.Get("signerPublicKey")
			pub, pubOK := pubV.(string)
			sig, sigOK := cs.String("signature")
			label := malformedSigner
			switch {
			case pubOK:
				label = utf16Prefix(pub, 16) + "..."
			case pubPresent:
				if a, isArr := pubV.([]any); isArr {
					label = canon.JSString(a[:min(16, len(a))]) + "..."
				}
			}
			vr.addSlot(pub, pubOK, sig, sigOK, label)
			vr.csEntries++
		}
	case string:
		vr.csMessage = "Invalid countersignature(s): countersignatures is not an array"
	case *canon.Object:
		if l, ok := x.Get("length"); ok && jsToNumber(l) > 0 {
			vr.csMessage = "Invalid countersignature(s): countersignatures is not an array"
		} else {
			vr.csMessage = "No countersignatures present"
		}
	default: // numbers and true have no length
		vr.csMessage = "No countersignatures present"
	}
}

// addSlot queues a signature check; malformed input is decided at once, as
// fromHex throws (odd length, non-hex) or the verifier rejects the length.
func (vr *verification) addSlot(pubHex string, pubOK bool, sigHex string, sigOK bool, label string) {
	s := sigSlot{msg: vr.canonical, digest: vr.digest, label: label}
	if !pubOK || !sigOK || !decodeHexInto(s.pub[:], pubHex) || !decodeHexInto(s.sig[:], sigHex) {
		s.outcome = 2
	}
	vr.slots = append(vr.slots, s)
}

// finish writes the two signature checks and the verdict.
func (vr *verification) finish() {
	checks := vr.res.Checks
	if vr.slots[0].outcome == 1 {
		checks[iSignature] = Check{CheckSignatureValid, true, "Issuer signature is valid"}
	} else {
		checks[iSignature] = Check{CheckSignatureValid, false, "Issuer signature verification failed"}
	}
	switch {
	case vr.csEntries > 0:
		var failed []string
		for _, s := range vr.slots[1:] {
			if s.outcome != 1 {
				failed = append(failed, s.label)
			}
		}
		if len(failed) == 0 {
			checks[iCountersignatures] = Check{CheckCountersignatures, true,
				"All " + strconv.Itoa(vr.csEntries) + " countersignature(s) are valid"}
		} else {
			checks[iCountersignatures] = Check{CheckCountersignatures, false,
				"Invalid countersignature(s) from: " + strings.Join(failed, ", ")}
		}
	case vr.csMessage == "No countersignatures present":
		checks[iCountersignatures] = Check{CheckCountersignatures, true, vr.csMessage}
	default:
		checks[iCountersignatures] = Check{CheckCountersignatures, false, vr.csMessage}
	}
	valid := true
	for _, c := range checks {
		valid = valid && c.Passed
	}
	vr.res.Valid = valid
	vr.canonical = nil
	vr.slots = nil
}

// cclCheck is check 5. The statements themselves are not needed, so the
// source is only validated (ccl.Check), with the errors and the statement
// count a full parse would give.
func cclCheck(o *canon.Object) Check {
	src, ok := o.String("constraints")
	if !ok {
		return Check{CheckCCLParses, false, "CCL parse error: constraints is not a string"}
	}
	n, err := ccl.Check(src)
	if err != nil {
		return Check{CheckCCLParses, false, "CCL parse error: " + err.Error()}
	}
	if n > MaxConstraints {
		return Check{CheckCCLParses, false, "Constraints exceed maximum of " + strconv.Itoa(MaxConstraints) + " statements"}
	}
	if n < len(cclParsedMessages) {
		return Check{CheckCCLParses, true, cclParsedMessages[n]}
	}
	return Check{CheckCCLParses, true, "CCL parsed successfully (" + strconv.Itoa(n) + " statement(s))"}
}

func typeCheck(o *canon.Object, member, name, title, lower, absent string, valid func(string) bool) Check {
	v, ok := o.Get(member)
	if !ok || !truthy(v) {
		return Check{name, true, absent}
	}
	var t any
	var present bool
	if c, isObj := v.(*canon.Object); isObj {
		t, present = c.Get("type")
	}
	ts := jsString(t, present)
	if s, isStr := t.(string); isStr && valid(s) {
		if msg, ok := validTypeMessages[title+" "+s]; ok {
			return Check{name, true, msg}
		}
		return Check{name, true, title + " type '" + ts + "' is valid"}
	}
	return Check{name, false, "Unknown " + lower + " type '" + ts + "'"}
}

func nonceCheck(o *canon.Object) Check {
	n, ok := o.String("nonce")
	switch {
	case ok && len(n) == 64 && isHex(n):
		return Check{CheckNoncePresent, true, "Nonce is present and valid (64-char hex)"}
	case !ok || n == "":
		return Check{CheckNoncePresent, false, "Nonce is missing or empty"}
	default:
		return Check{CheckNoncePresent, false, "Nonce is malformed: expected 64-char hex string, got " + strconv.Itoa(utf16Len(n)) + " chars"}
	}
}

// jsDate is new Date(v).getTime() for a truthy value, with ok=false for an
// invalid date.
func jsDate(v any) (int64, bool) {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.Abs(x) > 8.64e15 {
			return 0, false
		}
		return int64(x), true // TimeClip truncates toward zero
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case string:
		t, ok := jstime.Parse(x)
		return t.UnixMilli(), ok
	default: // objects and arrays go through String()
		t, ok := jstime.Parse(canon.JSString(x))
		return t.UnixMilli(), ok
	}
}

// resolve fills the outcome of every queued signature: from the cache when
// there is one, else by verifying (in one batch when batch is set).
func (v *Verifier) resolve(ctx context.Context, vs []*verification, batch bool) {
	var pendingBuf [8]*sigSlot // enough for a single document
	pending := pendingBuf[:0]
	for _, vr := range vs {
		for i := range vr.slots {
			if s := &vr.slots[i]; s.outcome == 0 {
				pending = append(pending, s)
			}
		}
	}
	if len(pending) == 0 {
		return
	}
	var cacheKeys [][32]byte
	if v.cache != nil {
		cacheKeys = make([][32]byte, len(pending))
		for i, s := range pending {
			cacheKeys[i] = sigCacheKey(s)
		}
		got, err := v.cache.GetSigs(ctx, cacheKeys)
		switch {
		case err != nil:
			v.logger().WarnContext(ctx, "covenant: signature cache lookup failed", "err", err)
		case len(got) != len(pending):
			v.logger().WarnContext(ctx, "covenant: signature cache returned wrong count", "want", len(pending), "got", len(got))
		default:
			for i, o := range got {
				if o == 1 || o == 2 {
					pending[i].outcome = o
				}
			}
		}
	}

	var todoBuf [8]int
	todo := todoBuf[:0] // indexes into pending still unknown
	for i, s := range pending {
		if s.outcome == 0 {
			todo = append(todo, i)
		}
	}
	if len(todo) == 0 {
		return
	}
	if batch && len(todo) > 1 {
		bv := keys.NewBatchVerifier(len(todo))
		idx := make([]int, len(todo))
		for j, i := range todo {
			s := pending[i]
			idx[j] = bv.Add(s.pub[:], s.msg, s.sig[:])
		}
		ok := bv.Verify()
		for j, i := range todo {
			pending[i].outcome = outcome(ok[idx[j]])
		}
	} else {
		for _, i := range todo {
			s := pending[i]
			s.outcome = outcome(keys.Verify(s.pub[:], s.msg, s.sig[:]))
		}
	}
	if v.cache != nil {
		putKeys := make([][32]byte, len(todo))
		valid := make([]bool, len(todo))
		for j, i := range todo {
			putKeys[j] = cacheKeys[i]
			valid[j] = pending[i].outcome == 1
		}
		if err := v.cache.PutSigs(ctx, putKeys, valid); err != nil {
			v.logger().WarnContext(ctx, "covenant: signature cache store failed", "err", err)
		}
	}
}

func outcome(ok bool) uint8 {
	if ok {
		return 1
	}
	return 2
}

// sigCacheDomain separates signature cache keys from other SHA-256 uses.
const sigCacheDomain = "stele/covenant/sigcache/v1\x00"

// sigCacheKey is SHA-256(domain || SHA-256(canonical form) || pub || sig).
func sigCacheKey(s *sigSlot) [32]byte {
	var buf [len(sigCacheDomain) + 32 + 32 + 64]byte
	n := copy(buf[:], sigCacheDomain)
	n += copy(buf[n:], s.digest[:])
	n += copy(buf[n:], s.pub[:])
	copy(buf[n:], s.sig[:])
	return sha256.Sum256(buf[:])
}

// Constant tables of the common success messages, so that verifying a
// typical document builds few strings.
var (
	cclParsedMessages = [...]string{
		"CCL parsed successfully (0 statement(s))", "CCL parsed successfully (1 statement(s))",
		"CCL parsed successfully (2 statement(s))", "CCL parsed successfully (3 statement(s))",
		"CCL parsed successfully (4 statement(s))", "CCL parsed successfully (5 statement(s))",
		"CCL parsed successfully (6 statement(s))", "CCL parsed successfully (7 statement(s))",
		"CCL parsed successfully (8 statement(s))", "CCL parsed successfully (9 statement(s))",
	}
	chainDepthMessages = [...]string{"",
		"Chain depth 1 is within limit", "Chain depth 2 is within limit", "Chain depth 3 is within limit",
		"Chain depth 4 is within limit", "Chain depth 5 is within limit", "Chain depth 6 is within limit",
		"Chain depth 7 is within limit", "Chain depth 8 is within limit", "Chain depth 9 is within limit",
		"Chain depth 10 is within limit", "Chain depth 11 is within limit", "Chain depth 12 is within limit",
		"Chain depth 13 is within limit", "Chain depth 14 is within limit", "Chain depth 15 is within limit",
		"Chain depth 16 is within limit",
	}
	validTypeMessages = map[string]string{
		"Enforcement capability":    "Enforcement type 'capability' is valid",
		"Enforcement monitor":       "Enforcement type 'monitor' is valid",
		"Enforcement audit":         "Enforcement type 'audit' is valid",
		"Enforcement bond":          "Enforcement type 'bond' is valid",
		"Enforcement composite":     "Enforcement type 'composite' is valid",
		"Proof tee":                 "Proof type 'tee' is valid",
		"Proof capability_manifest": "Proof type 'capability_manifest' is valid",
		"Proof audit_log":           "Proof type 'audit_log' is valid",
		"Proof bond_reference":      "Proof type 'bond_reference' is valid",
		"Proof zkp":                 "Proof type 'zkp' is valid",
		"Proof composite":           "Proof type 'composite' is valid",
	}
)

// chainDepthMessage is "Chain depth <d> is within limit".
func chainDepthMessage(d any, ds string) string {
	if f, ok := d.(float64); ok && f == math.Trunc(f) && f >= 1 && int(f) < len(chainDepthMessages) {
		return chainDepthMessages[int(f)]
	}
	return "Chain depth " + ds + " is within limit"
}

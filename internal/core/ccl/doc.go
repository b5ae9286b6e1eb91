// Package ccl implements the Covenant Constraint Language (CCL) of the Stele
// protocol: the lexer, the parser, the evaluator, merge, narrowing
// validation, the serialiser and the rate-limit check, with the decisions of
// the TypeScript reference (PROTOCOL.md §4) so that a policy is read and
// decided identically in both implementations.
//
// A policy is text such as
//
//	permit read on '/data/**'
//	deny read on '/data/secret/**' severity critical
//	permit transfer on '/accounts/*' when amount <= 1000 and currency in ['USD', 'EUR']
//	limit api.call 100 per 1 hours
//
// Parse turns it into a Document; Check only validates it (the same errors,
// and the statement count) without building anything. Evaluate decides an
// action on a resource under a context (a JSON object from package canon).
// The most specific matching permit or deny wins; a deny wins only over a
// permit of equal specificity; nothing matching is a default deny.
//
// Where the reference is unsafe this package differs on purpose, as PROTOCOL.md
// decides:
//   - `**` matching runs in time proportional to pattern × input instead of
//     backtracking exponentially; results are identical.
//   - `matches` uses an ECMAScript regular-expression engine with a pattern
//     length limit (MaxRegexpLength) and a match timeout (RegexpMatchTimeout);
//     a pattern that is too long, invalid or times out makes the condition
//     false.
//   - Serialize writes `not (…)` around a compound condition, so that the
//     text re-parses to the same condition.
//   - Parse refuses sources larger than MaxSourceBytes and conditions nested
//     deeper than MaxConditionDepth (the reference fails with a stack overflow
//     somewhere beyond that).
//
// The reference's lexer counts columns in UTF-16 code units; so does this one,
// so error positions agree.
//
// Parsed documents are immutable in use: Evaluate and the other functions
// never modify them and may be called concurrently. A Statement or Condition
// built or changed by hand still works, through slower paths that recompute
// what Parse precomputes.
package ccl

// Package audit implements the enforcement side of Stele (PROTOCOL.md §6.1–6.3
// and §6.5): the Monitor that decides actions under a covenant's CCL
// constraints, applies its rate limits and records every decision in a
// hash-chained audit log with Merkle inclusion proofs, and the standalone
// AuditChain.
//
// Hashes are computed exactly as the TypeScript reference computes them, so a
// log written here can be checked by any conformant implementation:
//
//   - an entry's hash is the SHA-256 of the canonical JSON of {index,
//     timestamp, action, resource, context, result: {permitted, reason,
//     severity}, outcome, previousHash, error}, with severity, reason and
//     error omitted when absent; the first entry's previousHash is
//     GenesisHash;
//   - a Merkle parent is the SHA-256 of the 128-character concatenation of
//     its children's hex hashes; a level of odd length repeats its last hash.
//
// The reference keeps the audit log and the rate-limit counters in the memory
// of one process. Here they live behind two small interfaces, Log and
// RateLimiter, so that several processes can share one chain and one set of
// counters through a shared store; MemoryLog and MemoryRateLimiter are the
// in-process implementations.
package audit

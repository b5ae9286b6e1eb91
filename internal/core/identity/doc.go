// Package identity implements Stele agent identities (PROTOCOL.md §5): a
// signed, content-addressed description of an AI agent (operator key, model,
// capabilities, deployment) together with a signed lineage of every change
// made to it.
//
// Identities are represented by typed structs, but every hash and signature is
// computed over the canonical JSON form of exactly the members the TypeScript
// reference hashes, so identities created here verify there and vice versa:
//
//   - capabilityManifestHash = SHA-256 of the canonical JSON of the
//     capabilities sorted in UTF-16 order;
//   - id = SHA-256 of the canonical JSON of {operatorPublicKey, model,
//     capabilityManifestHash, deployment, lineage};
//   - each lineage entry is signed over {identityHash, changeType,
//     description, timestamp, parentHash, reputationCarryForward};
//   - the identity is signed over every member except signature.
//
// Members of model, deployment or lineage entries that the structs do not
// model are kept in the Extra fields and hashed verbatim, so a document
// produced elsewhere round-trips and verifies unchanged.
//
// Decisions that differ from the reference (PROTOCOL.md §5.6):
//
//   - Verify never fails on malformed input: a signature or key that is not
//     valid hex makes the operator_signature check fail with a message saying
//     so, where the reference throws STELE_E900.
//   - Deserialize validates the types of every known member (the reference
//     only checks presence, two arrays and a numeric version) and requires an
//     integral version.
package identity

// Package jobs holds the message-driven side of the pipeline: the versioned job
// and event schemas, NATS subjects, the JetStream streams and consumers, the
// publisher that splits jobs into chunks, and the worker runner.
//
// CONTRACT FILE: the jobs implementer may refine it, keeping the names and
// meanings the gateway relies on.
package jobs

import (
	"encoding/json"

	"github.com/stele-go/stele/internal/store"
)

// SchemaVersion is the version of Chunk and Event written by this code.
const SchemaVersion = 1

// Subjects and streams.
const (
	StreamJobs   = "STELE_JOBS"   // work queue, subjects stele.jobs.>
	StreamEvents = "STELE_EVENTS" // limits retention, subjects stele.events.>

	SubjectVerify = "stele.jobs.verify"
	SubjectSign   = "stele.jobs.sign"

	// SubjectJobEventPrefix + jobID: the job completed.
	// SubjectJobEventPrefix + jobID + ".invalid": one per invalid document.
	SubjectJobEventPrefix = "stele.events.job."
)

// Item is one unit of work inside a chunk. A verify item carries the document
// inline (Document, raw JSON) or by reference (DocumentID, fetched from the
// store).
type Item struct {
	Index      int             `json:"index"`
	Ref        string          `json:"ref,omitempty"`
	Document   json.RawMessage `json:"document,omitempty"`
	DocumentID string          `json:"documentId,omitempty"`
	// Sign is the sign request for sign jobs (defined with the signer).
	Sign json.RawMessage `json:"sign,omitempty"`
}

// Chunk is the payload of one job message. Its Nats-Msg-Id is JobID + "." +
// Chunk, so a re-published chunk is dropped by the stream's duplicate window.
type Chunk struct {
	V     int           `json:"v"`
	JobID string        `json:"jobId"`
	Kind  store.JobKind `json:"kind"`
	Chunk int           `json:"chunk"`
	// At, when set (RFC 3339), verifies as of that instant instead of now.
	At    string `json:"at,omitempty"`
	Chain bool   `json:"chain,omitempty"`
	Items []Item `json:"items"`
}

// Event is published on STELE_EVENTS for integrations.
type Event struct {
	V       int             `json:"v"`
	Type    string          `json:"type"` // "job.completed" | "document.invalid"
	JobID   string          `json:"jobId"`
	Job     *store.Job      `json:"job,omitempty"`
	Result  *store.Result   `json:"result,omitempty"`
	Details json.RawMessage `json:"details,omitempty"`
}

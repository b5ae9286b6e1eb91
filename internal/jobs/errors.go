package jobs

import (
	"errors"

	"github.com/nats-io/nats.go/jetstream"
)

// Sentinel errors, matched with errors.Is.
var (
	// ErrInvalidOption wraps every rejected option or configuration value.
	ErrInvalidOption = errors.New("jobs: invalid option")
	// ErrInvalidJob reports a job the publisher cannot queue (bad ID, unknown
	// kind, an item that is too large to stage).
	ErrInvalidJob = errors.New("jobs: invalid job")
	// ErrBadMessage reports a message that can never be processed (poison).
	ErrBadMessage = errors.New("jobs: bad message")
	// ErrUnsupportedVersion reports a message written by a newer schema.
	ErrUnsupportedVersion = errors.New("jobs: unsupported schema version")
	// ErrQueueFull reports that the work stream refused a message because it
	// reached its limits (discard-new): back off and retry later.
	ErrQueueFull = errors.New("jobs: queue full")
	// ErrClosed reports use of a closed ChunkWriter or a stopped Runner.
	ErrClosed = errors.New("jobs: closed")
)

// jsErrCodeStoreFailed is the JetStream API error a stream with discard-new
// answers when it is at its MaxMsgs or MaxBytes limit.
const jsErrCodeStoreFailed jetstream.ErrorCode = 10077

// classifyPublishErr wraps err with ErrQueueFull when the stream refused the
// message for lack of room.
func classifyPublishErr(err error) error {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == jsErrCodeStoreFailed {
		return errors.Join(ErrQueueFull, err)
	}
	return err
}

package gateway

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/jsonscan"
	"github.com/stele-go/stele/internal/store"
)

// NDJSON uploads: one covenant per line, blank lines (only spaces, tabs and
// carriage returns) skipped. The upload is first spooled to a temporary file
// while its documents are counted, so that the job is created with its total
// and nothing is queued for an upload that breaks off or exceeds a limit.
// The file is then read back line by line and published through a
// jobs.ChunkWriter: memory stays bounded by one line plus one chunk window
// however large the upload.
//
// A line that is not a usable document (malformed JSON, not an object, over
// MaxDocumentBytes, nested too deep) does not reject the upload: it becomes a
// failed result for its item, carried as jobs.Item.Error. Every item's ref
// is its 1-based line number in the upload.

// spoolBuffer is the copy buffer of the spooling pass.
const spoolBuffer = 256 << 10

// lineSlack is read beyond MaxDocumentBytes per line, for surrounding
// whitespace and the newline.
const lineSlack = 64 << 10

func (s *Server) verifyNDJSON(w http.ResponseWriter, r *http.Request, at string, chain bool, wait time.Duration) {
	// The spool file lives until the handler returns: so does the token.
	select {
	case s.uploads <- struct{}{}:
		defer func() { <-s.uploads }()
	default:
		w.Header().Set("Retry-After", "1")
		s.fail(w, r, &Error{Err: ErrUnavailable, Field: "body",
			Message: fmt.Sprintf("%d NDJSON uploads are in progress, the most this gateway takes at once; retry later", cap(s.uploads))})
		return
	}
	start := time.Now()
	f, total, err := s.spool(http.MaxBytesReader(w, r.Body, s.lim.MaxStreamBytes))
	if f != nil {
		defer func() {
			f.Close()
			os.Remove(f.Name())
		}()
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if total == 0 {
		s.fail(w, r, fieldError(ErrInvalidField, "body", "the upload holds no documents (one JSON object per line)"))
		return
	}
	s.log.DebugContext(r.Context(), "upload spooled", "documents", total, "duration", time.Since(start))
	if fi, err := f.Stat(); err == nil {
		if err := s.checkRoom(r.Context(), fi.Size()); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	feed := func(ctx context.Context, cw *jobs.ChunkWriter) error {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("rewind spool: %w", err)
		}
		return s.feedLines(ctx, f, cw)
	}
	s.queueAndAnswer(w, r, jobs.Job{Kind: store.KindVerify, At: at, Chain: chain}, total, wait, feed)
}

// checkRoom refuses, before any job is created, an upload of size bytes
// when the work queue is full: it has less room than the upload, or than
// roomWanted for a large one (workers drain the queue while the gateway
// publishes, so a large upload needs room to start, not room for all of
// it). A queue that fills up while the job is published is handled too
// (see unqueued). When the queue's state cannot be read within
// queueStateTimeout, the upload goes ahead: the check is advice, and
// publishing finds out about a NATS that does not answer anyway.
func (s *Server) checkRoom(ctx context.Context, size int64) error {
	ctx, cancel := context.WithTimeout(ctx, queueStateTimeout)
	defer cancel()
	str, err := s.js.Stream(ctx, jobs.StreamJobs)
	if err != nil {
		s.log.WarnContext(ctx, "reading the work queue's state failed", "err", err)
		return nil
	}
	info := str.CachedInfo()
	if max := info.Config.MaxBytes; max > 0 && max-int64(info.State.Bytes) < min(size, roomWanted, max) {
		return &Error{Err: ErrUnavailable, Message: msgQueueFull}
	}
	return nil
}

// queueStateTimeout bounds checkRoom's read of the work queue's state,
// which takes milliseconds when NATS answers.
const queueStateTimeout = time.Second

// roomWanted is the free space of the work queue a large upload needs to
// start.
const roomWanted = 8 << 20

// spool copies body to a temporary file and counts its non-blank lines. On
// error the file (if any) is still returned, for the caller to remove.
func (s *Server) spool(body io.Reader) (*os.File, int, error) {
	f, err := os.CreateTemp(s.spoolDir, "stele-upload-*.ndjson")
	if err != nil {
		return nil, 0, s.spoolFailed(err)
	}
	buf := make([]byte, spoolBuffer)
	total := 0
	nonBlank := false
	for {
		n, rerr := body.Read(buf)
		total, nonBlank = countLines(buf[:n], total, nonBlank)
		if total > s.lim.MaxStreamItems || (total == s.lim.MaxStreamItems && nonBlank) {
			return f, 0, fieldError(ErrTooManyItems, "body", "more than %d documents in one upload", s.lim.MaxStreamItems)
		}
		if n > 0 {
			if _, err := f.Write(buf[:n]); err != nil {
				return f, 0, s.spoolFailed(err)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			var maxErr *http.MaxBytesError
			if errors.As(rerr, &maxErr) {
				return f, 0, fieldError(ErrBodyTooLarge, "body", "upload exceeds %d bytes", maxErr.Limit)
			}
			return f, 0, fieldError(ErrInvalidField, "body", "reading the upload failed: %s", bodyReadFailure(rerr))
		}
	}
	if nonBlank {
		total++
	}
	return f, total, nil
}

// spoolFailed is the error of an upload that could not be spooled: a full
// disk is the client's 503 saying so (the upload can be retried once there
// is room, or sent in smaller parts), anything else an internal error.
func (s *Server) spoolFailed(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		s.log.Error("spooling an upload failed: no disk space", "dir", s.spoolDir, "err", err)
		return &Error{Err: ErrUnavailable, Field: "body",
			Message: "no disk space left to spool the upload; retry later or send it in smaller parts"}
	}
	return fmt.Errorf("spool upload: %w", err)
}

// itemAdder is what feedLines needs of a *jobs.ChunkWriter. Lines are
// validated by checkLine, so the writer need not scan them again.
type itemAdder interface {
	AddValidated(ctx context.Context, it jobs.Item) error
}

// countLines advances the count of non-blank lines over b: nonBlank says
// whether the line in progress has a non-blank byte. Once a line is known to
// be non-blank the rest of it is skipped with bytes.IndexByte.
func countLines(b []byte, total int, nonBlank bool) (int, bool) {
	for i := 0; i < len(b); {
		if nonBlank {
			j := bytes.IndexByte(b[i:], '\n')
			if j < 0 {
				return total, true
			}
			total++
			nonBlank = false
			i += j + 1
			continue
		}
		switch b[i] {
		case '\n', ' ', '\t', '\r':
		default:
			nonBlank = true
		}
		i++
	}
	return total, nonBlank
}

// feedLines reads the spooled upload and adds one item per non-blank line.
func (s *Server) feedLines(ctx context.Context, r io.Reader, cw itemAdder) error {
	br := bufio.NewReaderSize(r, s.lim.MaxDocumentBytes+lineSlack)
	for lineNo := 1; ; lineNo++ {
		line, err := br.ReadSlice('\n')
		var item jobs.Item
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			blank, derr := discardLine(br, isBlank(line))
			if derr != nil && derr != io.EOF {
				return fmt.Errorf("read spool: %w", derr)
			}
			if blank {
				if derr == io.EOF {
					return nil
				}
				continue
			}
			item.Error = fmt.Sprintf("line %d: document exceeds %d bytes", lineNo, s.lim.MaxDocumentBytes)
			err = derr
		case err != nil && err != io.EOF:
			return fmt.Errorf("read spool: %w", err)
		default:
			line = trimSpace(line)
			if len(line) == 0 {
				if err == io.EOF {
					return nil
				}
				continue
			}
			if msg := s.checkLine(line); msg != "" {
				item.Error = fmt.Sprintf("line %d: %s", lineNo, msg)
			} else {
				item.Document = line
			}
		}
		item.Ref = strconv.Itoa(lineNo)
		if aerr := cw.AddValidated(ctx, item); aerr != nil {
			return aerr
		}
		if err == io.EOF {
			return nil
		}
	}
}

// checkLine returns why line cannot be queued as a document, or "".
func (s *Server) checkLine(line []byte) string {
	if len(line) > s.lim.MaxDocumentBytes {
		return fmt.Sprintf("document exceeds %d bytes", s.lim.MaxDocumentBytes)
	}
	if err := jsonscan.CheckDocument(line, s.lim.MaxDepth); err != nil {
		switch {
		case err.TooDeep:
			return fmt.Sprintf("document nests deeper than %d levels", s.lim.MaxDepth)
		case err.NotObject:
			return err.Msg
		}
		return "malformed JSON " + err.Error()
	}
	return ""
}

// discardLine skips the rest of an over-long line, reporting whether the
// whole line was blank.
func discardLine(br *bufio.Reader, blank bool) (bool, error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if blank && !isBlank(chunk) {
			blank = false
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return blank, err
		}
	}
}

func isBlank(b []byte) bool {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
		default:
			return false
		}
	}
	return true
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 {
		switch b[0] {
		case ' ', '\t', '\r', '\n':
			b = b[1:]
			continue
		}
		break
	}
	for len(b) > 0 {
		switch b[len(b)-1] {
		case ' ', '\t', '\r', '\n':
			b = b[:len(b)-1]
			continue
		}
		break
	}
	return b
}

package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stele-go/stele/internal/store"
)

// createJobScript creates a job hash unless it exists, dropping any results
// hash left without a job.
//
// KEYS: job hash, results hash.
// ARGV: TTL (ms), kind, status, total, createdAt, completedAt ("" for none).
var createJobScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[1], 'kind', ARGV[2], 'status', ARGV[3], 'total', ARGV[4],
  'done', 0, 'valid', 0, 'invalid', 0, 'failed', 0, 'createdAt', ARGV[5])
if ARGV[6] ~= '' then
  redis.call('HSET', KEYS[1], 'completedAt', ARGV[6])
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
`)

// recordScript stores results by index unless present and advances the job's
// counters by the ones it stored, all in one atomic step. It reads which
// indexes are present with one HMGET and writes the new ones with one HSET
// (a result repeated within the call counts once, the first one written).
//
// KEYS: job hash, results hash.
// ARGV: now (RFC 3339), TTL (ms), then per result: index, outcome (v|i|f),
// result JSON.
// Returns nil when the job does not exist, a STELE_RANGE error (writing
// nothing) when an index is outside the job, else {completed (0|1), kind,
// status, total, done, valid, invalid, failed, createdAt, completedAt}.
var recordScript = redis.NewScript(`
local total = redis.call('HGET', KEYS[1], 'total')
if not total then
  return false
end
total = tonumber(total)
local fields = {}
for i = 3, #ARGV, 3 do
  local idx = tonumber(ARGV[i])
  if idx == nil or idx < 0 or idx >= total then
    return redis.error_reply('STELE_RANGE result index ' .. ARGV[i] .. ' outside a job of ' .. total)
  end
  fields[#fields + 1] = ARGV[i]
end
local nv, ni, nf = 0, 0, 0
if #fields > 0 then
  local have = redis.call('HMGET', KEYS[2], unpack(fields))
  local seen = {}
  local set = {}
  for k = 1, #fields do
    local f = fields[k]
    if not have[k] and not seen[f] then
      seen[f] = true
      local i = 3 * k
      set[#set + 1] = f
      set[#set + 1] = ARGV[i + 2]
      local o = ARGV[i + 1]
      if o == 'v' then nv = nv + 1 elseif o == 'i' then ni = ni + 1 else nf = nf + 1 end
    end
  end
  if #set > 0 then
    redis.call('HSET', KEYS[2], unpack(set))
  end
end
local completed = 0
local added = nv + ni + nf
if added > 0 then
  if nv > 0 then redis.call('HINCRBY', KEYS[1], 'valid', nv) end
  if ni > 0 then redis.call('HINCRBY', KEYS[1], 'invalid', ni) end
  if nf > 0 then redis.call('HINCRBY', KEYS[1], 'failed', nf) end
  local done = redis.call('HINCRBY', KEYS[1], 'done', added)
  if done >= total then
    redis.call('HSET', KEYS[1], 'status', 'completed', 'completedAt', ARGV[1])
    completed = 1
  elseif redis.call('HGET', KEYS[1], 'status') == 'queued' then
    redis.call('HSET', KEYS[1], 'status', 'running')
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
local j = redis.call('HMGET', KEYS[1], 'kind', 'status', 'total', 'done', 'valid', 'invalid', 'failed', 'createdAt', 'completedAt')
return {completed, j[1], j[2], j[3], j[4], j[5], j[6], j[7], j[8], j[9], added}
`)

// Bounds of one recordScript call; larger RecordResults calls are split into
// several calls sent in one pipeline.
const (
	maxScriptResults = 1000
	maxScriptBytes   = 4 << 20
)

const timeLayout = time.RFC3339Nano

// CreateJob stores a new job; see store.Jobs.
func (s *Store) CreateJob(ctx context.Context, job store.Job) error {
	rec, err := store.NewJob(job, s.opts.now())
	if err != nil {
		return fmt.Errorf("redisstore: create job: %w", err)
	}
	completedAt := ""
	if !rec.CompletedAt.IsZero() {
		completedAt = rec.CompletedAt.Format(timeLayout)
	}
	n, err := createJobScript.Run(ctx, s.c,
		[]string{s.jobKey(rec.ID), s.resultsKey(rec.ID)},
		s.opts.jobTTL.Milliseconds(), string(rec.Kind), string(rec.Status), rec.Total,
		rec.CreatedAt.Format(timeLayout), completedAt,
	).Int()
	if err != nil {
		return fmt.Errorf("redisstore: create job %s: %w", rec.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("redisstore: create job %s: %w", rec.ID, store.ErrExists)
	}
	return nil
}

// GetJob returns a job; see store.Jobs.
func (s *Store) GetJob(ctx context.Context, id string) (store.Job, error) {
	if err := store.CheckID("job", id); err != nil {
		return store.Job{}, fmt.Errorf("redisstore: get job: %w", err)
	}
	m, err := s.c.HGetAll(ctx, s.jobKey(id)).Result()
	if err != nil {
		return store.Job{}, fmt.Errorf("redisstore: get job %s: %w", id, err)
	}
	if len(m) == 0 {
		return store.Job{}, fmt.Errorf("redisstore: get job %s: %w", id, store.ErrNotFound)
	}
	job, err := parseJob(id, func(f string) (string, bool) { v, ok := m[f]; return v, ok })
	if err != nil {
		return store.Job{}, fmt.Errorf("redisstore: get job %s: %w", id, err)
	}
	return job, nil
}

var jobFields = [...]string{"kind", "status", "total", "done", "valid", "invalid", "failed", "createdAt", "completedAt"}

// parseJob builds a Job from hash fields read through get.
func parseJob(id string, get func(field string) (string, bool)) (store.Job, error) {
	job := store.Job{ID: id}
	var err error
	num := func(f string) int {
		v, _ := get(f)
		n, e := strconv.Atoi(v)
		if e != nil && err == nil {
			err = fmt.Errorf("corrupt job field %s=%q", f, v)
		}
		return n
	}
	tm := func(f string) time.Time {
		v, ok := get(f)
		if !ok || v == "" {
			return time.Time{}
		}
		t, e := time.Parse(timeLayout, v)
		if e != nil && err == nil {
			err = fmt.Errorf("corrupt job field %s=%q", f, v)
		}
		return t
	}
	kind, _ := get("kind")
	status, _ := get("status")
	job.Kind = store.JobKind(kind)
	job.Status = store.JobStatus(status)
	job.Total = num("total")
	job.Done = num("done")
	job.Valid = num("valid")
	job.Invalid = num("invalid")
	job.Failed = num("failed")
	job.CreatedAt = tm("createdAt")
	job.CompletedAt = tm("completedAt")
	return job, err
}

// RecordResults stores results and advances the counters; see store.Jobs.
// Up to maxScriptResults results (and maxScriptBytes of JSON) are applied in
// one atomic script; a larger call is split into several scripts sent in one
// pipeline, after its indices have been checked against the job's total.
func (s *Store) RecordResults(ctx context.Context, jobID string, results []store.Result) (store.Progress, error) {
	calls, err := s.recordCalls(jobID, results)
	if err != nil {
		return store.Progress{}, err
	}
	if len(calls) > 1 {
		if err := s.checkIndices(ctx, jobID, results); err != nil {
			return store.Progress{}, err
		}
	}
	return s.record(ctx, jobID, calls, nil)
}

// CommitChunk writes a chunk's signature outcomes, documents and results;
// see store.ChunkCommitter. On one node (or Sentinel) everything goes in one
// pipeline: the SETs and ZADDs first, then the results script, which Redis
// runs in that order. On a Cluster, where a pipeline is split across nodes
// without an order between them, and for results too many for one script,
// the writes are made one after the other.
func (s *Store) CommitChunk(ctx context.Context, jobID string, w store.ChunkWrites) (store.Progress, error) {
	if err := store.CheckSigs(w.SigKeys, w.SigValid); err != nil {
		return store.Progress{}, fmt.Errorf("redisstore: commit chunk of job %s: %w", jobID, err)
	}
	if err := store.CheckDocuments(w.Documents); err != nil {
		return store.Progress{}, fmt.Errorf("redisstore: commit chunk of job %s: %w", jobID, err)
	}
	calls, err := s.recordCalls(jobID, w.Results)
	if err != nil {
		return store.Progress{}, err
	}
	size := 0
	for _, d := range w.Documents {
		size += len(d.JSON)
	}
	if s.cluster || len(calls) > 1 || len(w.Documents) > maxPipelineDocs || size > maxPipelineBytes {
		if len(calls) > 1 {
			if err := s.checkIndices(ctx, jobID, w.Results); err != nil {
				return store.Progress{}, err
			}
		}
		if err := s.PutSigs(ctx, w.SigKeys, w.SigValid); err != nil {
			return store.Progress{}, err
		}
		if err := s.PutDocuments(ctx, w.Documents); err != nil {
			return store.Progress{}, err
		}
		return s.record(ctx, jobID, calls, nil)
	}
	return s.record(ctx, jobID, calls, func(p redis.Pipeliner) {
		s.queueSigs(ctx, p, w.SigKeys, w.SigValid)
		s.queueDocuments(ctx, p, w.Documents)
	})
}

// recordCalls encodes results into the argument lists of recordScript calls
// (the "now" argument is filled in by record). Nothing is written if any
// result is unusable.
func (s *Store) recordCalls(jobID string, results []store.Result) ([][]any, error) {
	if err := store.CheckID("job", jobID); err != nil {
		return nil, fmt.Errorf("redisstore: record results: %w", err)
	}
	var calls [][]any
	args := []any{nil, s.opts.jobTTL.Milliseconds()}
	size := 0
	var buf []byte // the stored forms, one after the other
	for i := range results {
		r := &results[i]
		start := len(buf)
		var err error
		buf, err = store.AppendStoredResult(buf, r)
		if err != nil {
			return nil, fmt.Errorf("redisstore: record results of job %s: %w", jobID, err)
		}
		b := buf[start:len(buf):len(buf)]
		if n := (len(args) - 2) / 3; n > 0 && (n >= maxScriptResults || size+len(b) > maxScriptBytes) {
			calls = append(calls, args)
			args = []any{nil, s.opts.jobTTL.Milliseconds()}
			size = 0
		}
		args = append(args, r.Index, outcomeArg[r.Outcome()], b)
		size += len(b)
	}
	return append(calls, args), nil
}

// checkIndices checks every index against the job's total, for calls applied
// in several atomic steps: an out-of-range index must write nothing. Total
// never changes.
func (s *Store) checkIndices(ctx context.Context, jobID string, results []store.Result) error {
	total, err := s.c.HGet(ctx, s.jobKey(jobID), "total").Int()
	if errors.Is(err, redis.Nil) {
		return fmt.Errorf("redisstore: record results of job %s: %w", jobID, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("redisstore: record results of job %s: %w", jobID, err)
	}
	for _, r := range results {
		if r.Index >= total {
			return fmt.Errorf("redisstore: record results of job %s: index %d outside a job of %d: %w", jobID, r.Index, total, store.ErrInvalid)
		}
	}
	return nil
}

// record runs the recordScript calls in one pipeline, after the commands
// before adds (nil for none), and reads the job's progress from the last.
func (s *Store) record(ctx context.Context, jobID string, calls [][]any, before func(redis.Pipeliner)) (store.Progress, error) {
	keys := []string{s.jobKey(jobID), s.resultsKey(jobID)}
	now := s.opts.now().UTC().Format(timeLayout)
	for _, a := range calls {
		a[0] = now
	}
	cmds, err := s.runScripts(ctx, recordScript, keys, calls, before)
	if cmds == nil {
		return store.Progress{}, fmt.Errorf("redisstore: record results of job %s: %w", jobID, err)
	}
	// The scripts' own errors (unknown job, index out of range) come
	// before a replica shortfall.
	replicaErr := err
	var p store.Progress
	for _, cmd := range cmds {
		vals, err := cmd.Slice()
		switch {
		case errors.Is(err, redis.Nil):
			return store.Progress{}, fmt.Errorf("redisstore: record results of job %s: %w", jobID, store.ErrNotFound)
		case err != nil && strings.HasPrefix(err.Error(), "STELE_RANGE"):
			return store.Progress{}, fmt.Errorf("redisstore: record results of job %s: %v: %w", jobID, err, store.ErrInvalid)
		case err != nil:
			return store.Progress{}, fmt.Errorf("redisstore: record results of job %s: %w", jobID, err)
		}
		if len(vals) != 2+len(jobFields) {
			return store.Progress{}, fmt.Errorf("redisstore: record results of job %s: script returned %d values", jobID, len(vals))
		}
		if c, _ := vals[0].(int64); c == 1 {
			p.Completed = true
		}
		if n, ok := vals[len(vals)-1].(int64); ok {
			p.Recorded += int(n)
		}
		p.Job, err = parseJob(jobID, func(f string) (string, bool) {
			for i, name := range jobFields {
				if name == f {
					v, ok := vals[1+i].(string)
					return v, ok
				}
			}
			return "", false
		})
		if err != nil {
			return store.Progress{}, fmt.Errorf("redisstore: record results of job %s: %w", jobID, err)
		}
	}
	if replicaErr != nil {
		return store.Progress{}, fmt.Errorf("redisstore: record results of job %s: %w", jobID, replicaErr)
	}
	return p, nil
}

var outcomeArg = [...]string{store.OutcomeValid: "v", store.OutcomeInvalid: "i", store.OutcomeFailed: "f"}

// runScripts sends one EVALSHA of script per argument list in a pipeline,
// after the commands before adds (when not nil), whose errors it returns. If
// Redis does not know the script (a restart, SCRIPT FLUSH, a new node), it
// loads it and sends the whole pipeline again, which is safe because the
// scripts and the commands before them are idempotent. Per-command errors of
// the scripts are left in the returned commands. With WithReplicaWait a WAIT
// follows the scripts; a shortfall is returned as the error together with
// the commands (nil commands: nothing to read).
func (s *Store) runScripts(ctx context.Context, script *redis.Script, keys []string, calls [][]any, before func(redis.Pipeliner)) ([]*redis.Cmd, error) {
	for attempt := 0; ; attempt++ {
		cmds := make([]*redis.Cmd, len(calls))
		var pre []redis.Cmder
		var wait *redis.Cmd
		_, _ = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			if before != nil {
				before(p)
				pre = append([]redis.Cmder(nil), p.Cmds()...)
			}
			for i, a := range calls {
				cmds[i] = script.EvalSha(ctx, p, keys, a...)
			}
			if s.opts.replicas > 0 {
				// On the pipeline's connection: WAIT counts the replicas
				// that have this connection's writes.
				wait = p.Do(ctx, "WAIT", s.opts.replicas, s.opts.replicaWait.Milliseconds())
			}
			return nil
		})
		for _, c := range pre {
			if err := c.Err(); err != nil {
				return nil, fmt.Errorf("%s: %w", c.Name(), err)
			}
		}
		noScript := false
		for _, c := range cmds {
			err := c.Err()
			if err == nil || errors.Is(err, redis.Nil) {
				continue
			}
			if redis.HasErrorPrefix(err, "NOSCRIPT") {
				noScript = true
				continue
			}
			if _, ok := err.(redis.Error); !ok {
				return nil, err // transport or context error
			}
		}
		if !noScript {
			return cmds, s.checkReplicas(wait)
		}
		if attempt > 0 {
			return nil, errors.New("script still unknown after loading it")
		}
		if err := script.Load(ctx, s.c).Err(); err != nil {
			return nil, fmt.Errorf("load script: %w", err)
		}
	}
}

// checkReplicas reads the reply of the WAIT after a commit (nil: none was
// sent): fewer replicas than wanted is an error.
func (s *Store) checkReplicas(wait *redis.Cmd) error {
	if wait == nil {
		return nil
	}
	n, err := wait.Int64()
	if err != nil {
		return fmt.Errorf("wait for replicas: %w", err)
	}
	if n < int64(s.opts.replicas) {
		return fmt.Errorf("%d of %d replicas acknowledged the write within %v", n, s.opts.replicas, s.opts.replicaWait)
	}
	return nil
}

// Results returns a page of results; see store.Jobs.
func (s *Store) Results(ctx context.Context, jobID string, offset, limit int) ([]store.Result, int, error) {
	if err := store.CheckID("job", jobID); err != nil {
		return nil, 0, fmt.Errorf("redisstore: results: %w", err)
	}
	if err := store.CheckPage(offset, limit); err != nil {
		return nil, 0, fmt.Errorf("redisstore: results of job %s: %w", jobID, err)
	}
	fields := make([]string, limit)
	for i := range fields {
		fields[i] = strconv.Itoa(offset + i)
	}
	var totalCmd *redis.StringCmd
	var resCmd *redis.SliceCmd
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		totalCmd = p.HGet(ctx, s.jobKey(jobID), "total")
		resCmd = p.HMGet(ctx, s.resultsKey(jobID), fields...)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, 0, fmt.Errorf("redisstore: results of job %s: %w", jobID, err)
	}
	total, err := totalCmd.Int()
	if errors.Is(err, redis.Nil) {
		return nil, 0, fmt.Errorf("redisstore: results of job %s: %w", jobID, store.ErrNotFound)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("redisstore: results of job %s: %w", jobID, err)
	}
	var out []store.Result
	for i, v := range resCmd.Val() {
		if v == nil || offset+i >= total {
			continue
		}
		str, ok := v.(string)
		if !ok {
			return nil, 0, fmt.Errorf("redisstore: results of job %s: unexpected value of type %T", jobID, v)
		}
		r, err := store.DecodeStoredResult([]byte(str))
		if err != nil {
			return nil, 0, fmt.Errorf("redisstore: results of job %s: index %d: %w", jobID, offset+i, err)
		}
		out = append(out, r)
	}
	return out, store.NextOffset(offset, limit, total), nil
}

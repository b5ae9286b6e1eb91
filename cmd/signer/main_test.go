package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/stele-go/stele/internal/core/covenant"
	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/keyring"
	"github.com/stele-go/stele/internal/redisstore"
	"github.com/stele-go/stele/internal/store"
	"github.com/stele-go/stele/internal/testutil/natstest"
	"github.com/stele-go/stele/internal/testutil/proctest"
	"github.com/stele-go/stele/internal/testutil/redistest"
	"github.com/stele-go/stele/internal/testutil/syncbuf"
	"github.com/stele-go/stele/internal/worker"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func seedHex(b byte) string { return strings.Repeat(fmt.Sprintf("%02x", b), 32) }

// keyDir writes key files (mode 0600) into a fresh 0700 directory.
func keyDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "keys")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestParseConfig(t *testing.T) {
	dir := keyDir(t, map[string]string{"ops.key": seedHex(1), "old.key": seedHex(2), "old.retired": ""})
	c, err := parseConfig([]string{"-concurrency", "3"}, []string{
		"STELE_KEYS_DIR=" + dir,
		"STELE_KEY_extra=" + seedHex(3),
		"STELE_CONCURRENCY=9",
		"STELE_ADVERTISE_EVERY=30s",
		"STELE_MAX_UNKNOWN_KEY_DELIVERIES=3",
	}, new(bytes.Buffer))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.keys.IDs(), ","); got != "extra,old,ops" {
		t.Errorf("keys %s", got)
	}
	if k, _ := c.keys.Get("old"); !k.Retired {
		t.Error("old is not retired")
	}
	if c.Runner.Concurrency != 3 || c.advertiseEvery != 30*time.Second || c.sign.MaxUnknownKeyDeliveries != 3 {
		t.Errorf("config %+v", c)
	}
	if c.Consumer.MaxDeliver != jobs.DefaultSignMaxDeliver || c.sign.MaxAdvertisedKeyDeliveries != jobs.DefaultMaxAdvertisedKeyDeliveries {
		t.Errorf("defaults not kept: max deliver %d", c.Consumer.MaxDeliver)
	}
}

func TestParseConfigErrors(t *testing.T) {
	good := keyDir(t, map[string]string{"ops.key": seedHex(1)})
	open := keyDir(t, map[string]string{"ops.key": seedHex(1)})
	if err := os.Chmod(filepath.Join(open, "ops.key"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		args []string
		env  []string
		want string
	}{
		"no keys":            {nil, nil, "no keys"},
		"readable key":       {[]string{"-keys", open}, nil, "chmod 600"},
		"missing dir":        {[]string{"-keys", filepath.Join(good, "nope")}, nil, "no such file"},
		"bad env key":        {nil, []string{"STELE_KEY_x=123"}, "STELE_KEY_x"},
		"conflicting key":    {[]string{"-keys", good}, []string{"STELE_KEY_ops=" + seedHex(9)}, "two different keys"},
		"deliveries":         {[]string{"-keys", good, "-max-deliver", "20"}, nil, "must exceed"},
		"advertise interval": {[]string{"-keys", good, "-advertise-every", "10ms"}, nil, "advertise interval"},
		"bad flag":           {[]string{"-keys", good, "-concurrency", "0"}, nil, "concurrency"},
		"sign concurrency":   {[]string{"-keys", good, "-sign-concurrency", "0"}, nil, "sign concurrency"},
	} {
		_, err := parseConfig(tc.args, tc.env, new(bytes.Buffer))
		var ue worker.UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want a usage error mentioning %q", name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), seedHex(9)) {
			t.Errorf("%s: error shows key material: %v", name, err)
		}
	}
}

// The signer signs a job end to end against real NATS and Redis, advertises
// its keys, and drains on cancellation.
func TestRunSignsAndDrains(t *testing.T) {
	natsURL := natstest.Start(t)
	redisURL := redistest.Start(t)
	prefix := redistest.KeyPrefix(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var logs syncbuf.Buffer
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- run(runCtx, []string{"-nats", natsURL, "-redis", redisURL, "-redis-prefix", prefix,
			"-fetch-wait", "200ms", "-concurrency", "2"}, []string{"STELE_KEY_ops=" + seedHex(1)}, &logs)
	}()

	_, js := natstest.Connect(t, natsURL)
	st, err := redisstore.Open(ctx, redisURL, redisstore.WithKeyPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := jobs.EnsureStreams(ctx, js, jobs.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	req, _ := json.Marshal(jobs.SignRequest{KeyID: "ops", Beneficiary: &jobs.SignParty{ID: "agent", PublicKey: seedHex(0xab)},
		Constraints: "permit read on '/data/**'"})
	items := []jobs.Item{{Ref: "a", Sign: req}, {Ref: "b", Sign: json.RawMessage(`{"keyId":"ops"}`)}}
	if err := st.CreateJob(ctx, store.Job{ID: "cmd-sign", Kind: store.KindSign, Total: len(items)}); err != nil {
		t.Fatal(err)
	}
	pub, err := jobs.NewPublisher(js)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pub.Publish(ctx, jobs.Job{ID: "cmd-sign", Kind: store.KindSign}, items); err != nil {
		t.Fatal(err)
	}
	var job store.Job
	for job.Status != store.StatusCompleted {
		select {
		case err := <-done:
			t.Fatalf("run returned early: %v\n%s", err, logs.String())
		case <-time.After(20 * time.Millisecond):
		}
		if job, err = st.GetJob(ctx, "cmd-sign"); err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
	}
	if job.Valid != 1 || job.Failed != 1 {
		t.Fatalf("job = %+v, want 1 valid and 1 failed", job)
	}
	res, _, err := st.Results(ctx, "cmd-sign", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if res[1].Error != "invalid_request: beneficiary: required" {
		t.Errorf("bad item: %+v", res[1])
	}
	raw, err := st.GetDocument(ctx, res[0].DocumentID)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := covenant.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := covenant.NewVerifier()
	kr, _ := keyring.FromEnv([]string{"STELE_KEY_ops=" + seedHex(1)})
	k, _ := kr.Get("ops")
	if r := v.Verify(doc); !r.Valid || doc.Issuer().PublicKey != k.Public {
		t.Fatalf("signed covenant: valid %v, issuer %+v", r.Valid, doc.Issuer())
	}
	adv, err := st.SigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a, ok := adv["ops"]; !ok || a.PublicKey != k.Public || time.Since(a.SeenAt) > time.Minute {
		t.Errorf("advertised keys %+v", adv)
	}
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run after cancel: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not drain")
	}
	for _, want := range []string{`"msg":"signer started"`, `"msg":"signer drained"`, k.Public} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %s:\n%s", want, logs.String())
		}
	}
	if strings.Contains(logs.String(), seedHex(1)) {
		t.Error("logs show the private key")
	}
}

func TestProcessDrainsOnSIGTERM(t *testing.T) {
	bin := proctest.Build(t, "signer")
	dir := keyDir(t, map[string]string{"ops.key": seedHex(1)})
	proctest.DrainsOnSIGTERM(t, bin, "signer", []string{"-fetch-wait", "500ms", "-keys", dir}, []string{
		"STELE_NATS_URL=" + natstest.Start(t), "STELE_REDIS_URL=" + redistest.Start(t),
		"STELE_REDIS_PREFIX=" + redistest.KeyPrefix(t), "STELE_CONCURRENCY=2"})
}

func TestProcessBadKeysExitStatus(t *testing.T) {
	bin := proctest.Build(t, "signer")
	dir := keyDir(t, map[string]string{"ops.key": seedHex(1)})
	if err := os.Chmod(filepath.Join(dir, "ops.key"), 0o640); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-keys", dir)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("exit %v, want status 2\n%s", err, out)
	}
	msg := string(out)
	if !strings.HasPrefix(msg, "signer: ") || !strings.Contains(msg, "chmod 600") || !strings.Contains(msg, "signer -h") {
		t.Errorf("message %q: want the file, the fix and a hint", msg)
	}
}

package keyring

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stele-go/stele/internal/core/keys"
	"github.com/stele-go/stele/internal/store"
)

func seedHex(b byte) string { return strings.Repeat(fmt.Sprintf("%02x", b), 32) }

func pubOf(t *testing.T, seed string) string {
	t.Helper()
	k, err := keys.ParsePrivateKeyHex(seed)
	if err != nil {
		t.Fatal(err)
	}
	return k.PublicHex()
}

// keyDir returns a fresh 0700 directory holding the given files (mode 0600).
func keyDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "keys")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoad(t *testing.T) {
	dir := keyDir(t, map[string]string{
		"alpha.key":      seedHex(1) + "\n",
		"beta-2.key":     "  " + seedHex(2) + "  \n",
		"beta-2.retired": "",
		"README":         "not a key",
		"gamma.pub":      "ignored",
	})
	r, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(r.IDs(), ","); got != "alpha,beta-2" {
		t.Fatalf("IDs = %s", got)
	}
	a, ok := r.Get("alpha")
	if !ok || a.Public != pubOf(t, seedHex(1)) || a.Retired {
		t.Fatalf("alpha = %v, %v", a, ok)
	}
	b, ok := r.Get("beta-2")
	if !ok || b.Public != pubOf(t, seedHex(2)) || !b.Retired {
		t.Fatalf("beta-2 = %v, %v", b, ok)
	}
	if b.PrivateKey().PublicHex() != b.Public {
		t.Fatal("private key does not match public key")
	}
	if _, ok := r.Get("README"); ok {
		t.Fatal("README loaded as a key")
	}
	want := []store.SigningKey{
		{KeyID: "alpha", PublicKey: a.Public},
		{KeyID: "beta-2", PublicKey: b.Public, Retired: true},
	}
	if got := r.Keys(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Keys = %v, want %v", got, want)
	}
}

func TestLoadPermissions(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permissions")
	}
	for _, mode := range []os.FileMode{0o640, 0o604, 0o660, 0o606, 0o610} {
		t.Run(mode.String(), func(t *testing.T) {
			dir := keyDir(t, map[string]string{"k.key": seedHex(1)})
			path := filepath.Join(dir, "k.key")
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			_, err := Load(dir)
			if !errors.Is(err, ErrPermissions) {
				t.Fatalf("err = %v, want ErrPermissions", err)
			}
			if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, "chmod 600") {
				t.Fatalf("error does not name the file and the fix: %v", err)
			}
		})
	}
	t.Run("retired marker", func(t *testing.T) {
		dir := keyDir(t, map[string]string{"k.key": seedHex(1), "k.retired": ""})
		if err := os.Chmod(filepath.Join(dir, "k.retired"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(dir); !errors.Is(err, ErrPermissions) {
			t.Fatalf("err = %v, want ErrPermissions", err)
		}
	})
	t.Run("directory", func(t *testing.T) {
		dir := keyDir(t, map[string]string{"k.key": seedHex(1)})
		if err := os.Chmod(dir, 0o750); err != nil {
			t.Fatal(err)
		}
		_, err := Load(dir)
		if !errors.Is(err, ErrPermissions) || !strings.Contains(err.Error(), "chmod 700 "+dir) {
			t.Fatalf("err = %v, want ErrPermissions naming the fix", err)
		}
	})
	t.Run("ignored files may be public", func(t *testing.T) {
		dir := keyDir(t, map[string]string{"k.key": seedHex(1), "notes.txt": "x"})
		if err := os.Chmod(filepath.Join(dir, "notes.txt"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(dir); err != nil {
			t.Fatal(err)
		}
	})
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  error
	}{
		{"bad hex", map[string]string{"k.key": "zz" + seedHex(1)[2:]}, ErrInvalidKey},
		{"short", map[string]string{"k.key": seedHex(1)[:62]}, ErrInvalidKey},
		{"empty", map[string]string{"k.key": ""}, ErrInvalidKey},
		{"huge", map[string]string{"k.key": strings.Repeat("a", 5000)}, ErrInvalidKey},
		{"bad id", map[string]string{"a b.key": seedHex(1)}, ErrInvalidID},
		{"empty id", map[string]string{".key": seedHex(1)}, ErrInvalidID},
		{"long id", map[string]string{strings.Repeat("a", 65) + ".key": seedHex(1)}, ErrInvalidID},
		{"marker without key", map[string]string{"k.key": seedHex(1), "kk.retired": ""}, ErrUnknownRetired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(keyDir(t, tt.files))
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if strings.Contains(err.Error(), seedHex(1)[2:]) {
				t.Fatalf("error leaks key material: %v", err)
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing dir: err = %v", err)
	}
	t.Run("directory named key", func(t *testing.T) {
		dir := keyDir(t, nil)
		if err := os.Mkdir(filepath.Join(dir, "d.key"), 0o700); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(dir); !errors.Is(err, ErrInvalidKey) {
			t.Fatalf("err = %v, want ErrInvalidKey", err)
		}
	})
}

// TestLoadKeygen loads a key written by `stele keygen` and checks that the
// public key it printed is the loaded one.
func TestLoadKeygen(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/stele")
	}
	dir := keyDir(t, nil)
	cmd := exec.Command("go", "run", "../../cmd/stele", "keygen", "--out", filepath.Join(dir, "issuer-1.key"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("stele keygen: %v\n%s", err, stderr.Bytes())
	}
	r, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	k, ok := r.Get("issuer-1")
	if !ok {
		t.Fatalf("issuer-1 not loaded: %v", r)
	}
	if printed := strings.TrimSpace(string(out)); k.Public != printed {
		t.Fatalf("public key %s, keygen printed %s", k.Public, printed)
	}
}

func TestFromEnv(t *testing.T) {
	env := []string{
		"PATH=/usr/bin",
		"STELE_KEY_ops=" + seedHex(1),
		"STELE_KEY_Ops.2=" + seedHex(2) + "\n",
		"STELE_KEYS_DIR=/somewhere",
		"STELE_KEYS_RETIRED= Ops.2 ,",
		"NOEQUALS",
	}
	r, err := FromEnv(env)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(r.IDs(), ","); got != "Ops.2,ops" {
		t.Fatalf("IDs = %s", got)
	}
	if k, _ := r.Get("ops"); k.Public != pubOf(t, seedHex(1)) || k.Retired {
		t.Fatalf("ops = %v", k)
	}
	if k, _ := r.Get("Ops.2"); k.Public != pubOf(t, seedHex(2)) || !k.Retired {
		t.Fatalf("Ops.2 = %v", k)
	}

	bad := []struct {
		env  []string
		want error
	}{
		{[]string{"STELE_KEY_=" + seedHex(1)}, ErrInvalidID},
		{[]string{"STELE_KEY_a/b=" + seedHex(1)}, ErrInvalidID},
		{[]string{"STELE_KEY_a=nothex"}, ErrInvalidKey},
		{[]string{"STELE_KEY_a=" + seedHex(1), "STELE_KEY_a=" + seedHex(2)}, ErrDuplicate},
		{[]string{"STELE_KEYS_RETIRED=zz"}, ErrUnknownRetired},
		{[]string{"STELE_KEYS_RETIRED=a b"}, ErrInvalidID},
	}
	for _, tt := range bad {
		_, err := FromEnv(tt.env)
		if !errors.Is(err, tt.want) {
			t.Errorf("FromEnv(%q): err = %v, want %v", tt.env, err, tt.want)
			continue
		}
		if strings.Contains(err.Error(), seedHex(1)) || strings.Contains(err.Error(), seedHex(2)) {
			t.Errorf("error leaks key material: %v", err)
		}
	}
	// The same key twice is one key.
	r, err = FromEnv([]string{"STELE_KEY_a=" + seedHex(1), "STELE_KEY_a=" + strings.ToUpper(seedHex(1))})
	if err != nil || r.Len() != 1 {
		t.Fatalf("equal duplicate: %v, %v", r, err)
	}
}

func TestLoadAll(t *testing.T) {
	dir := keyDir(t, map[string]string{"a.key": seedHex(1), "b.key": seedHex(2)})
	r, err := LoadAll(dir, []string{
		"STELE_KEY_a=" + seedHex(1), // same key: fine
		"STELE_KEY_c=" + seedHex(3),
		"STELE_KEYS_RETIRED=b",
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(r.IDs(), ","); got != "a,b,c" {
		t.Fatalf("IDs = %s", got)
	}
	if k, _ := r.Get("b"); !k.Retired {
		t.Fatal("b is not retired")
	}
	if k, _ := r.Get("a"); k.Retired {
		t.Fatal("a is retired")
	}

	_, err = LoadAll(dir, []string{"STELE_KEY_a=" + seedHex(9)})
	if !errors.Is(err, ErrDuplicate) {
		t.Fatalf("conflicting duplicate: err = %v, want ErrDuplicate", err)
	}
	if _, err := LoadAll("", []string{"STELE_KEYS_RETIRED=a"}); !errors.Is(err, ErrUnknownRetired) {
		t.Fatalf("retired unknown: err = %v", err)
	}
	r, err = LoadAll("", nil)
	if err != nil || r.Len() != 0 {
		t.Fatalf("empty: %v, %v", r, err)
	}
}

func TestMergeAndNew(t *testing.T) {
	k1, _ := keys.ParsePrivateKeyHex(seedHex(1))
	k2, _ := keys.ParsePrivateKeyHex(seedHex(2))
	a, err := NewKey("a", k1, false)
	if err != nil {
		t.Fatal(err)
	}
	aRetired, _ := NewKey("a", k1, true)
	aOther, _ := NewKey("a", k2, false)
	if _, err := NewKey("a b", k1, false); !errors.Is(err, ErrInvalidID) {
		t.Fatalf("NewKey bad id: %v", err)
	}
	if _, err := NewKey("a", nil, false); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("NewKey nil: %v", err)
	}
	r1, _ := New(a)
	r2, _ := New(aRetired)
	m, err := Merge(r1, nil, r2)
	if err != nil {
		t.Fatal(err)
	}
	if k, _ := m.Get("a"); !k.Retired {
		t.Fatal("retired in one ring, not retired after merge")
	}
	if k, _ := r1.Get("a"); k.Retired {
		t.Fatal("Merge changed its input")
	}
	r3, _ := New(aOther)
	if _, err := Merge(r1, r3); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("Merge conflict: %v", err)
	}
	if _, err := New(a, aOther); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("New conflict: %v", err)
	}
	a.Retired = true // New copied it
	if k, _ := r1.Get("a"); k.Retired {
		t.Fatal("New kept the caller's Key")
	}
}

// TestNoPrivateOutput checks that no formatting, logging or JSON path shows
// the seed or the expanded private key.
func TestNoPrivateOutput(t *testing.T) {
	seed := seedHex(7)
	r, err := FromEnv([]string{"STELE_KEY_k=" + seed})
	if err != nil {
		t.Fatal(err)
	}
	k, _ := r.Get("k")
	priv := k.PrivateKey()
	secrets := []string{seed, fmt.Sprintf("%x", priv.Seed()), seed[:16]}

	var out bytes.Buffer
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q", "%d"} {
		fmt.Fprintf(&out, verb+"\n", k)
		fmt.Fprintf(&out, verb+"\n", *k)
		fmt.Fprintf(&out, verb+"\n", r)
		fmt.Fprintf(&out, verb+"\n", []*Key{k})
	}
	for _, v := range []any{k, *k, r, map[string]*Key{"k": k}} {
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out.Write(j)
	}
	for _, h := range []slog.Handler{slog.NewJSONHandler(&out, nil), slog.NewTextHandler(&out, nil)} {
		l := slog.New(h)
		l.Info("key", "key", k, "value", *k, "ring", r)
	}
	s := out.String()
	for _, secret := range secrets {
		if strings.Contains(s, secret) {
			t.Fatalf("output contains private key material:\n%s", s)
		}
	}
	if !strings.Contains(s, k.Public) || !strings.Contains(s, `"keyId":"k"`) {
		t.Fatalf("output lacks the public key or id:\n%s", s)
	}
}

type recordingDirectory struct {
	got [][]store.SigningKey
	err error
}

func (d *recordingDirectory) AdvertiseKeys(_ context.Context, ks []store.SigningKey) error {
	d.got = append(d.got, ks)
	return d.err
}

func (d *recordingDirectory) SigningKeys(context.Context) (map[string]store.SigningKey, error) {
	return nil, errors.ErrUnsupported
}

func TestAdvertise(t *testing.T) {
	r, err := FromEnv([]string{"STELE_KEY_b=" + seedHex(2), "STELE_KEY_a=" + seedHex(1), "STELE_KEYS_RETIRED=b"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	d := &recordingDirectory{}
	if err := r.Advertise(context.Background(), d, now); err != nil {
		t.Fatal(err)
	}
	want := []store.SigningKey{
		{KeyID: "a", PublicKey: pubOf(t, seedHex(1)), SeenAt: now},
		{KeyID: "b", PublicKey: pubOf(t, seedHex(2)), Retired: true, SeenAt: now},
	}
	if len(d.got) != 1 || fmt.Sprint(d.got[0]) != fmt.Sprint(want) {
		t.Fatalf("advertised %v, want %v", d.got, want)
	}
	d.err = store.ErrExists
	// A key ID taken by another public key says what to do, not only
	// "already exists".
	if err := r.Advertise(context.Background(), d, now); !errors.Is(err, store.ErrExists) ||
		!strings.Contains(err.Error(), "a, b") || !strings.Contains(err.Error(), "under a new ID") {
		t.Fatalf("err = %v, want the directory's error, naming the IDs and the way out", err)
	}
	empty, _ := New()
	d.got = nil
	if err := empty.Advertise(context.Background(), d, now); err != nil || d.got != nil {
		t.Fatalf("empty keyring advertised %v (%v)", d.got, err)
	}
}

// TestReadmeRetireCommand runs the README's command that retires a key, as
// an operator pastes it (default umask 022), and loads the directory: the
// marker it makes must be one the keyring accepts.
func TestReadmeRetireCommand(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("`([^`]*keys/issuer-1\\.retired)`").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README shows no command creating keys/issuer-1.retired")
	}
	dir := keyDir(t, map[string]string{"issuer-1.key": seedHex(1)})
	parent := filepath.Dir(dir)
	cmd := exec.Command("sh", "-c", "umask 022 && "+string(m[1]))
	cmd.Dir = parent
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", m[1], err, out)
	}
	r, err := Load(dir)
	if err != nil {
		t.Fatalf("after the README's %q: %v", m[1], err)
	}
	if k, ok := r.Get("issuer-1"); !ok || !k.Retired {
		t.Errorf("issuer-1 after %q: %+v, want it retired", m[1], k)
	}
}

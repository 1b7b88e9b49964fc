package seal_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/seal"
	"github.com/sluicehq/sluice/internal/testkit"
)

// keyForms returns the ways key bytes could show up in text: raw, hex,
// base64 and decimal, of the whole key and of its first 8 bytes.
func keyForms(key []byte) []string {
	var forms []string
	for _, b := range [][]byte{key, key[:min(8, len(key))]} {
		if len(b) < 4 {
			continue
		}
		dec := strings.Trim(strings.ReplaceAll(strconvBytes(b), ",", ""), "[]")
		forms = append(forms,
			string(b),
			hex.EncodeToString(b),
			strings.ToUpper(hex.EncodeToString(b)),
			base64.StdEncoding.EncodeToString(b)[:len(b)*4/3-1],
			base64.URLEncoding.EncodeToString(b)[:len(b)*4/3-1],
			dec,
		)
	}
	return forms
}

// strconvBytes is b as fmt's %v prints a byte slice: [186 51 157].
func strconvBytes(b []byte) string {
	parts := make([]string, len(b))
	for i, c := range b {
		parts[i] = strconv.Itoa(int(c))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// assertNoKey fails if text contains any form of key.
func assertNoKey(t *testing.T, what, text string, key []byte) {
	t.Helper()
	for _, f := range keyForms(key) {
		if strings.Contains(text, f) {
			t.Errorf("%s contains key bytes (%q): %q", what, f, text)
		}
	}
}

func TestGenerateKey(t *testing.T) {
	t.Parallel()
	a, b := seal.GenerateKey(), seal.GenerateKey()
	if len(a) != seal.KeySize || len(b) != seal.KeySize {
		t.Fatalf("len(GenerateKey) = %d, %d; want %d", len(a), len(b), seal.KeySize)
	}
	if bytes.Equal(a, b) {
		t.Error("two GenerateKey calls returned the same key")
	}
	if _, err := seal.NewMaster(a); err != nil {
		t.Errorf("NewMaster(GenerateKey()): %v", err)
	}
}

func TestNewMasterRejectsWrongLengths(t *testing.T) {
	t.Parallel()
	// Printable and recognisable, so a leak would show in any form.
	long := []byte("SECRETKEYsecretkeySECRETKEYsecretkeySECRETKEYsecretkeySECRETKEYs")
	for _, n := range []int{0, 16, 31, 33, 64} {
		key := long[:n]
		m, err := seal.NewMaster(key)
		if err == nil || m != nil {
			t.Errorf("NewMaster(%d bytes) = %v, %v; want nil, error", n, m, err)
			continue
		}
		if !strings.Contains(err.Error(), strconv.Itoa(n)) {
			t.Errorf("NewMaster(%d bytes) error %q does not say the length", n, err)
		}
		assertNoKey(t, "NewMaster error", err.Error(), key)
	}
}

func TestNewMasterDoesNotKeepTheCallersSlice(t *testing.T) {
	t.Parallel()
	key := seal.GenerateKey()
	m, err := seal.NewMaster(key)
	if err != nil {
		t.Fatal(err)
	}
	fp := m.Fingerprint()
	k := seal.NewDataKey()
	wrapped := m.Wrap(k)
	clear(key) // the caller wipes its copy
	if m.Fingerprint() != fp {
		t.Error("Fingerprint changed after the caller wiped its key slice")
	}
	if _, err := m.Unwrap(k.ID(), wrapped); err != nil {
		t.Errorf("Unwrap after the caller wiped its key slice: %v", err)
	}
}

func TestFingerprint(t *testing.T) {
	t.Parallel()
	key := seal.GenerateKey()
	m1, err := seal.NewMaster(key)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := seal.NewMaster(bytes.Clone(key))
	if err != nil {
		t.Fatal(err)
	}
	fp := m1.Fingerprint()
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(fp) {
		t.Errorf("Fingerprint = %q, want 16 lowercase hex characters", fp)
	}
	if fp != m1.Fingerprint() || fp != m2.Fingerprint() {
		t.Errorf("Fingerprint not stable: %q, %q, %q", fp, m1.Fingerprint(), m2.Fingerprint())
	}
	if other := testkit.NewMaster(t).Fingerprint(); other == fp {
		t.Errorf("two master keys share fingerprint %q", fp)
	}

	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("sluice master key fingerprint"))
	if want := hex.EncodeToString(mac.Sum(nil)[:8]); fp != want {
		t.Errorf("Fingerprint = %q, want first 8 bytes of HMAC-SHA256 = %q", fp, want)
	}

	plain := sha256.Sum256(key)
	for _, leak := range []string{
		hex.EncodeToString(key), base64.StdEncoding.EncodeToString(key),
		base64.RawURLEncoding.EncodeToString(key), hex.EncodeToString(plain[:]),
	} {
		if strings.Contains(leak, fp) || strings.HasPrefix(leak, fp[:6]) {
			t.Errorf("Fingerprint %q is part of %q", fp, leak)
		}
	}
}

func TestWrapUnwrapRoundTrip(t *testing.T) {
	t.Parallel()
	m := testkit.NewMaster(t)
	k := seal.NewDataKey()
	w1, w2 := m.Wrap(k), m.Wrap(k)
	if len(w1) != 1+12+seal.KeySize+16 {
		t.Errorf("len(Wrap) = %d, want %d", len(w1), 1+12+seal.KeySize+16)
	}
	if bytes.Equal(w1, w2) {
		t.Error("two Wraps of one key are equal: nonce reused")
	}
	for _, w := range [][]byte{w1, w2} {
		u, err := m.Unwrap(k.ID(), w)
		if err != nil {
			t.Fatalf("Unwrap: %v", err)
		}
		if u.ID() != k.ID() {
			t.Errorf("Unwrap ID = %q, want %q", u.ID(), k.ID())
		}
		if !bytes.Equal(u.SubjectKey(), k.SubjectKey()) {
			t.Error("unwrapped key derives another SubjectKey: not the same key")
		}
		aad := seal.AAD("ten_1", "destinations.url", "dst_1")
		if got, err := u.Open(k.Seal([]byte("https://example.com/hook"), aad), aad); err != nil || string(got) != "https://example.com/hook" {
			t.Errorf("unwrapped key opens the original's seal = %q, %v", got, err)
		}
		if got, err := k.Open(u.Seal([]byte("x"), aad), aad); err != nil || string(got) != "x" {
			t.Errorf("original opens the unwrapped key's seal = %q, %v", got, err)
		}
	}
}

func TestUnwrapRejectsWrongMasterAndID(t *testing.T) {
	t.Parallel()
	m, other := testkit.NewMaster(t), testkit.NewMaster(t)
	k, k2 := seal.NewDataKey(), seal.NewDataKey()
	wrapped := m.Wrap(k)

	u, err := other.Unwrap(k.ID(), wrapped)
	if !errors.Is(err, seal.ErrWrongMaster) || u != nil {
		t.Errorf("Unwrap with another master = %v, %v; want nil, ErrWrongMaster", u, err)
	}
	if err != nil && strings.Contains(err.Error(), m.Fingerprint()) {
		t.Errorf("error %q names the wrapping master; it cannot know it", err)
	}
	// k's wrapped bytes swapped into k2's row.
	u, err = m.Unwrap(k2.ID(), wrapped)
	if !errors.Is(err, seal.ErrWrongMaster) || u != nil {
		t.Errorf("Unwrap under another id = %v, %v; want nil, ErrWrongMaster", u, err)
	}
}

func TestUnwrapRejectsTamperingAndTruncation(t *testing.T) {
	t.Parallel()
	m := testkit.NewMaster(t)
	k := seal.NewDataKey()
	wrapped := m.Wrap(k)
	for i := range wrapped {
		for bit := range 8 {
			tampered := bytes.Clone(wrapped)
			tampered[i] ^= 1 << bit
			u, err := m.Unwrap(k.ID(), tampered)
			want := seal.ErrWrongMaster
			if i == 0 {
				want = seal.ErrIntegrity // the version byte: not a wrapped key at all
			}
			if !errors.Is(err, want) || u != nil {
				t.Errorf("flip byte %d bit %d: Unwrap = %v, %v; want nil, %v", i, bit, u, err, want)
			}
		}
	}
	for n := range len(wrapped) {
		u, err := m.Unwrap(k.ID(), wrapped[:n])
		if !errors.Is(err, seal.ErrIntegrity) || u != nil {
			t.Errorf("truncated to %d: Unwrap = %v, %v; want nil, ErrIntegrity", n, u, err)
		}
	}
	for _, id := range []string{"", strings.Repeat("a", 256)} {
		u, err := m.Unwrap(id, wrapped)
		if !errors.Is(err, seal.ErrIntegrity) || u != nil {
			t.Errorf("id of %d bytes: Unwrap = %v, %v; want nil, ErrIntegrity", len(id), u, err)
		}
	}
}

// TestRotation is `sluice keys rotate`: every data key is unwrapped with the
// old master and wrapped with the new; sealed rows are not touched and must
// still open.
func TestRotation(t *testing.T) {
	t.Parallel()
	oldMaster, k := goldenKeys(t)
	newM := testkit.NewMaster(t)
	if oldMaster.Fingerprint() == newM.Fingerprint() {
		t.Fatal("old and new master share a fingerprint")
	}

	fresh := k.Seal([]byte("sealed before rotation"), seal.AAD("ten_1", "c", "r"))
	oldWrapped := mustHex(t, goldenWrappedHex)

	unwrapped, err := oldMaster.Unwrap(goldenKeyID, oldWrapped)
	if err != nil {
		t.Fatalf("unwrap with old master: %v", err)
	}
	newWrapped := newM.Wrap(unwrapped)

	rotated, err := newM.Unwrap(goldenKeyID, newWrapped)
	if err != nil {
		t.Fatalf("unwrap with new master: %v", err)
	}
	if got, err := rotated.Open(mustHex(t, goldenSealedHex), goldenAAD()); err != nil || string(got) != goldenPlaintext {
		t.Errorf("golden row after rotation = %q, %v", got, err)
	}
	if got, err := rotated.Open(fresh, seal.AAD("ten_1", "c", "r")); err != nil || string(got) != "sealed before rotation" {
		t.Errorf("row sealed before rotation = %q, %v", got, err)
	}
	if !bytes.Equal(rotated.SubjectKey(), k.SubjectKey()) {
		t.Error("SubjectKey changed with master-key rotation: the subject index would break")
	}
	if _, err := oldMaster.Unwrap(goldenKeyID, newWrapped); !errors.Is(err, seal.ErrWrongMaster) {
		t.Errorf("old master unwraps the re-wrapped key: %v, want ErrWrongMaster", err)
	}
	if _, err := newM.Unwrap(goldenKeyID, oldWrapped); !errors.Is(err, seal.ErrWrongMaster) {
		t.Errorf("new master unwraps the old wrapping: %v, want ErrWrongMaster", err)
	}
}

package seal_test

import (
	"bytes"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"regexp"
	"strconv"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/internal/seal"
	"github.com/sluicehq/sluice/internal/testkit"
)

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// sealedOverhead is what Seal adds to a plaintext for a key id of idLen bytes:
// version, id length, id, nonce, tag.
func sealedOverhead(idLen int) int { return 1 + 1 + idLen + 12 + 16 }

func TestNewDataKeyID(t *testing.T) {
	t.Parallel()
	re := regexp.MustCompile(`^dk_[a-z2-7]{26}$`)
	seen := map[string]bool{}
	for range 100 {
		id := seal.NewDataKey().ID()
		if !re.MatchString(id) {
			t.Fatalf("ID = %q, want dk_ + 26 lowercase base32 characters", id)
		}
		if seen[id] {
			t.Fatalf("ID %q repeated", id)
		}
		seen[id] = true
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	t.Parallel()
	k := seal.NewDataKey()
	aad := seal.AAD("ten_1", "event_payloads.body", "evt_1")
	tests := []struct {
		name      string
		plaintext []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"small", []byte(`{"email":"ada@example.com"}`)},
		{"1MiB", randomBytes(1 << 20)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sealed := k.Seal(tt.plaintext, aad)
			if want := len(tt.plaintext) + sealedOverhead(len(k.ID())); len(sealed) != want {
				t.Errorf("len(sealed) = %d, want %d", len(sealed), want)
			}
			if len(tt.plaintext) >= 16 && bytes.Contains(sealed, tt.plaintext[:16]) {
				t.Error("sealed value contains the plaintext")
			}
			got, err := k.Open(sealed, aad)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(got, tt.plaintext) {
				t.Errorf("Open = %d bytes, want the %d sealed", len(got), len(tt.plaintext))
			}
			id, err := seal.SealedKeyID(sealed)
			if err != nil || id != k.ID() {
				t.Errorf("SealedKeyID = %q, %v; want %q, nil", id, err, k.ID())
			}
		})
	}
}

func TestSealUsesAFreshNonce(t *testing.T) {
	t.Parallel()
	k := seal.NewDataKey()
	plaintext := []byte("the same plaintext")
	a, b := k.Seal(plaintext, nil), k.Seal(plaintext, nil)
	if bytes.Equal(a, b) {
		t.Fatal("two Seals of the same plaintext are equal")
	}
	nonce := func(s []byte) []byte { n := 2 + len(k.ID()); return s[n : n+12] }
	if bytes.Equal(nonce(a), nonce(b)) {
		t.Error("two Seals share a nonce")
	}
	for _, s := range [][]byte{a, b} {
		if got, err := k.Open(s, nil); err != nil || !bytes.Equal(got, plaintext) {
			t.Errorf("Open = %q, %v; want %q, nil", got, err, plaintext)
		}
	}
}

// assertIntegrityErr fails unless Open returned no plaintext and an error
// matching ErrIntegrity.
func assertIntegrityErr(t *testing.T, what string, got []byte, err error) {
	t.Helper()
	if !errors.Is(err, seal.ErrIntegrity) {
		t.Errorf("%s: Open error = %v, want ErrIntegrity", what, err)
	}
	if got != nil {
		t.Errorf("%s: Open returned %d bytes of plaintext with an error", what, len(got))
	}
}

func TestOpenRejectsEveryBitFlip(t *testing.T) {
	t.Parallel()
	k := seal.NewDataKey()
	aad := seal.AAD("ten_1", "event_payloads.body", "evt_1")
	for _, plaintext := range [][]byte{nil, []byte("hello, ada")} {
		sealed := k.Seal(plaintext, aad)
		for i := range sealed {
			for bit := range 8 {
				tampered := bytes.Clone(sealed)
				tampered[i] ^= 1 << bit
				got, err := k.Open(tampered, aad)
				assertIntegrityErr(t, "flip byte "+strconv.Itoa(i), got, err)
			}
			tampered := bytes.Clone(sealed)
			tampered[i] ^= 0xff
			got, err := k.Open(tampered, aad)
			assertIntegrityErr(t, "invert byte "+strconv.Itoa(i), got, err)
		}
		if got, err := k.Open(sealed, aad); err != nil || !bytes.Equal(got, plaintext) {
			t.Errorf("untampered Open = %q, %v; want %q, nil", got, err, plaintext)
		}
	}
}

func TestOpenRejectsTruncationAndExtension(t *testing.T) {
	t.Parallel()
	k := seal.NewDataKey()
	sealed := k.Seal([]byte("hello, ada"), nil)
	for n := range len(sealed) {
		got, err := k.Open(sealed[:n], nil)
		assertIntegrityErr(t, "truncated to "+strconv.Itoa(n), got, err)
		got, err = k.Open(sealed[len(sealed)-n:], nil)
		assertIntegrityErr(t, "first bytes cut, "+strconv.Itoa(n)+" left", got, err)
	}
	got, err := k.Open(append(bytes.Clone(sealed), 0), nil)
	assertIntegrityErr(t, "one byte appended", got, err)
	got, err = k.Open(append(bytes.Clone(sealed), sealed...), nil)
	assertIntegrityErr(t, "sealed twice over", got, err)
}

func TestOpenRejectsOtherAAD(t *testing.T) {
	t.Parallel()
	k := seal.NewDataKey()
	aad := seal.AAD("ten_1", "event_payloads.body", "evt_1")
	sealed := k.Seal([]byte("hello, ada"), aad)
	others := map[string][]byte{
		"other row":          seal.AAD("ten_1", "event_payloads.body", "evt_2"),
		"other column":       seal.AAD("ten_1", "event_payloads.headers", "evt_1"),
		"other tenant":       seal.AAD("ten_2", "event_payloads.body", "evt_1"),
		"no aad":             nil,
		"aad with extra nul": append(bytes.Clone(aad), 0),
		"aad cut short":      aad[:len(aad)-1],
		"parts regrouped":    seal.AAD("ten_1", "event_payloads.bodyevt_1"),
	}
	for name, other := range others {
		got, err := k.Open(sealed, other)
		assertIntegrityErr(t, name, got, err)
	}
	if got, err := k.Open(sealed, seal.AAD("ten_1", "event_payloads.body", "evt_1")); err != nil || string(got) != "hello, ada" {
		t.Errorf("Open with the same aad = %q, %v", got, err)
	}
}

func TestAAD(t *testing.T) {
	t.Parallel()
	if got, want := seal.AAD("ten_1", "event_payloads.body", "evt_1"), []byte("ten_1\x00event_payloads.body\x00evt_1"); !bytes.Equal(got, want) {
		t.Errorf("AAD = %q, want %q", got, want)
	}
	distinct := [][2][]byte{
		{seal.AAD("a", "bc"), seal.AAD("ab", "c")},
		{seal.AAD("a\x00b", "c"), seal.AAD("a", "b\x00c")},
		{seal.AAD("a\x01", "b"), seal.AAD("a", "\x01b")},
		{seal.AAD("a\x01\x01"), seal.AAD("a\x00")},
		{seal.AAD("", "a"), seal.AAD("a", "")},
		{seal.AAD("a", "b"), seal.AAD("a\x00b")},
	}
	for _, d := range distinct {
		if bytes.Equal(d[0], d[1]) {
			t.Errorf("AAD collision: %q", d[0])
		}
	}
	if got := seal.AAD(); len(got) != 0 {
		t.Errorf("AAD() = %q, want empty", got)
	}
}

func TestOpenRejectsOtherDataKey(t *testing.T) {
	t.Parallel()
	k1, k2 := seal.NewDataKey(), seal.NewDataKey()
	sealed := k1.Seal([]byte("hello, ada"), nil)

	got, err := k2.Open(sealed, nil)
	assertIntegrityErr(t, "other key", got, err)

	// Relabelled with k2's id (same length), the value still must not open:
	// the header is authenticated and the key is wrong anyway.
	relabelled := bytes.Clone(sealed)
	copy(relabelled[2:], k2.ID())
	if id, err := seal.SealedKeyID(relabelled); err != nil || id != k2.ID() {
		t.Fatalf("SealedKeyID(relabelled) = %q, %v", id, err)
	}
	got, err = k2.Open(relabelled, nil)
	assertIntegrityErr(t, "relabelled for k2, opened by k2", got, err)
	got, err = k1.Open(relabelled, nil)
	assertIntegrityErr(t, "relabelled for k2, opened by k1", got, err)
}

func TestSealedKeyID(t *testing.T) {
	t.Parallel()
	k := seal.NewDataKey()
	sealed := k.Seal(nil, nil)
	if id, err := seal.SealedKeyID(sealed); err != nil || id != k.ID() {
		t.Errorf("SealedKeyID = %q, %v; want %q, nil", id, err, k.ID())
	}
	wrongVersion := bytes.Clone(sealed)
	wrongVersion[0] = 2
	zeroLenID := append([]byte{1, 0}, make([]byte, 28)...)
	longerID := bytes.Clone(sealed)
	longerID[1] = 255
	malformed := map[string][]byte{
		"nil":           nil,
		"version only":  {1},
		"header only":   sealed[:2+len(k.ID())],
		"no tag":        sealed[:len(sealed)-1],
		"wrong version": wrongVersion,
		"empty id":      zeroLenID,
		"id overruns":   longerID,
	}
	for name, s := range malformed {
		id, err := seal.SealedKeyID(s)
		if !errors.Is(err, seal.ErrIntegrity) || id != "" {
			t.Errorf("%s: SealedKeyID = %q, %v; want \"\", ErrIntegrity", name, id, err)
		}
	}
}

func TestSubjectKey(t *testing.T) {
	t.Parallel()
	_, golden := goldenKeys(t)
	want, err := hkdf.Key(sha256.New, mustHex(t, goldenDataKeyHex), nil, "sluice subject index v1", seal.KeySize)
	if err != nil {
		t.Fatal(err)
	}
	got := golden.SubjectKey()
	if !bytes.Equal(got, want) {
		t.Errorf("SubjectKey = %x, want HKDF-SHA256(data key, nil, info) = %x", got, want)
	}
	if bytes.Equal(got, mustHex(t, goldenDataKeyHex)) {
		t.Error("SubjectKey is the data key itself")
	}

	k1, k2 := seal.NewDataKey(), seal.NewDataKey()
	a, b := k1.SubjectKey(), k1.SubjectKey()
	if len(a) != seal.KeySize {
		t.Errorf("len(SubjectKey) = %d, want %d", len(a), seal.KeySize)
	}
	if !bytes.Equal(a, b) {
		t.Error("SubjectKey differs between calls on one key")
	}
	a[0] ^= 0xff
	if bytes.Equal(a, k1.SubjectKey()) {
		t.Error("SubjectKey returns a shared slice: changing it changed the key")
	}
	if bytes.Equal(k1.SubjectKey(), k2.SubjectKey()) {
		t.Error("two data keys derive the same SubjectKey")
	}
}

// TestConcurrentUse lets the race detector watch one key used from many
// goroutines, as the API and dispatcher will.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	m := testkit.NewMaster(t)
	k := seal.NewDataKey()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Go(func() {
			aad := seal.AAD("ten_1", "col", strconv.Itoa(g))
			for range 50 {
				got, err := k.Open(k.Seal([]byte("hello"), aad), aad)
				if err != nil || string(got) != "hello" {
					errs <- errors.New("round trip failed: " + string(got))
					return
				}
				if _, err := m.Unwrap(k.ID(), m.Wrap(k)); err != nil {
					errs <- err
					return
				}
				_ = k.SubjectKey()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

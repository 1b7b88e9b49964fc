package seal_test

import (
	"encoding/hex"
	"testing"

	"github.com/sluicehq/sluice/internal/seal"
)

// Golden values, made once with this package. They pin the stored formats:
// rows sealed and keys wrapped today must open after every future change, so
// a golden value failing here means the at-rest format broke, not the test.
const (
	goldenMasterHex   = "cfb20962ed72725acb63e51e19ce5148c164987e905e886053bc6d9a5f1001eb"
	goldenFingerprint = "2e0449fd513c7008"
	goldenKeyID       = "dk_ez2bbtmgnt6di3ohma4yph7qh5"
	goldenDataKeyHex  = "ba339dfcbbce8d5554771bd009a80af04304014f524623cf53a9f3c6d0f339ce"
	goldenWrappedHex  = "01ea9f39cf10eaba1a213fc7ef3af0667fe54f25e5a1f97d8bdabfe8e678ea09be616a965a383f63504bb2cabd3c7e3df908fca2ad5ee734a2d14559d9"
	goldenSealedHex   = "011d646b5f657a326262746d676e74366469336f686d6134797068377168354bb231cbd1febe50bea1f7b53ed3b7b7b0ac543d4bdd003e28155568b65917f103c1db719c14750289b8b18b4f2c91041ac182897c29214a8ea5ed7722d4caf070113015dd"
	goldenPlaintext   = `{"email":"ada@example.com","amount":4200}`
	// goldenEmptyHex seals nil under AAD("ten_golden", "event_payloads.body", "evt_empty").
	goldenEmptyHex = "011d646b5f657a326262746d676e74366469336f686d613479706837716835d5ecc1f92d3e6dc425c8b3f8754389b09c1779b5108d1fb5eb32a56b"
	// goldenSubjectKeyHex is the golden data key's SubjectKey.
	goldenSubjectKeyHex = "7432749a4a9783adcaa2399fe9267f3b305720fb7e65b4f4de2f2a99d4bd5022"
)

// goldenAAD is the additional data goldenSealedHex was sealed with.
func goldenAAD() []byte { return seal.AAD("ten_golden", "event_payloads.body", "evt_golden") }

func mustHex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatalf("decode hex: %v", err)
	}
	return b
}

// goldenKeys returns the golden master key and, unwrapped by it, the golden
// data key.
func goldenKeys(tb testing.TB) (*seal.Master, *seal.DataKey) {
	tb.Helper()
	m, err := seal.NewMaster(mustHex(tb, goldenMasterHex))
	if err != nil {
		tb.Fatalf("NewMaster: %v", err)
	}
	k, err := m.Unwrap(goldenKeyID, mustHex(tb, goldenWrappedHex))
	if err != nil {
		tb.Fatalf("Unwrap golden: %v", err)
	}
	return m, k
}

func TestGoldenValuesStillOpen(t *testing.T) {
	t.Parallel()
	m, k := goldenKeys(t)

	if got := m.Fingerprint(); got != goldenFingerprint {
		t.Errorf("Fingerprint = %q, want %q", got, goldenFingerprint)
	}
	if got := k.ID(); got != goldenKeyID {
		t.Errorf("ID = %q, want %q", got, goldenKeyID)
	}
	got, err := k.Open(mustHex(t, goldenSealedHex), goldenAAD())
	if err != nil || string(got) != goldenPlaintext {
		t.Errorf("Open golden = %q, %v; want %q, nil", got, err, goldenPlaintext)
	}
	got, err = k.Open(mustHex(t, goldenEmptyHex), seal.AAD("ten_golden", "event_payloads.body", "evt_empty"))
	if err != nil || len(got) != 0 {
		t.Errorf("Open golden empty = %q, %v; want empty, nil", got, err)
	}
	id, err := seal.SealedKeyID(mustHex(t, goldenSealedHex))
	if err != nil || id != goldenKeyID {
		t.Errorf("SealedKeyID golden = %q, %v; want %q, nil", id, err, goldenKeyID)
	}
	if got := hex.EncodeToString(k.SubjectKey()); got != goldenSubjectKeyHex {
		t.Errorf("SubjectKey = %s, want %s", got, goldenSubjectKeyHex)
	}
}

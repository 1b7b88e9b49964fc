package seal_test

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/seal"
	"github.com/sluicehq/sluice/internal/testkit"
)

// TestFormattingShowsOnlyIDs pins what every fmt verb prints for keys: the
// data key's id or the master's fingerprint, whether the key is passed by
// pointer, by value or inside a struct — never key bytes or the cipher's key
// schedule.
func TestFormattingShowsOnlyIDs(t *testing.T) {
	t.Parallel()
	m, k := goldenKeys(t)
	id, fp := goldenKeyID, goldenFingerprint
	tests := []struct {
		format string
		arg    any
		want   string
	}{
		{"%v", k, id},
		{"%+v", k, id},
		{"%s", k, id},
		{"%v", *k, id},
		{"%+v", *k, id},
		{"%q", k, `"` + id + `"`},
		{"%x", k, hex.EncodeToString([]byte(id))},
		{"%10.5s", k, "     dk_ez"},
		{"%d", k, "%!d(string=" + id + ")"},
		{"%#v", k, `seal.DataKey{ID: "` + id + `"}`},
		{"%#v", *k, `seal.DataKey{ID: "` + id + `"}`},
		{"%v", m, fp},
		{"%+v", m, fp},
		{"%s", m, fp},
		{"%v", *m, fp},
		{"%d", *m, "%!d(string=" + fp + ")"},
		{"%#v", m, `seal.Master{Fingerprint: "` + fp + `"}`},
		{"%+v", struct{ Key *seal.DataKey }{k}, "{Key:" + id + "}"},
		{"%v", []any{k, m}, "[" + id + " " + fp + "]"},
	}
	for _, tt := range tests {
		if got := fmt.Sprintf(tt.format, tt.arg); got != tt.want {
			t.Errorf("Sprintf(%q, %T) = %q, want %q", tt.format, tt.arg, got, tt.want)
		}
	}
	all := fmt.Sprintf("%v %+v %s %#v %x %X %d %q", k, k, k, k, k, k, k, k) +
		fmt.Sprintf("%v %+v %s %#v %x %X %d %q", *k, *k, *k, *k, *k, *k, *k, *k) +
		fmt.Sprint(k, *k, m, *m) + fmt.Sprintln(k, m) + k.String() + k.GoString() + m.String() + m.GoString()
	assertNoKey(t, "fmt output", all, mustHex(t, goldenDataKeyHex))
	assertNoKey(t, "fmt output", all, mustHex(t, goldenMasterHex))
}

func TestSlogShowsOnlyIDs(t *testing.T) {
	t.Parallel()
	m, k := goldenKeys(t)
	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
		log := slog.New(h)
		log.Info("rotated", "data_key", k, "data_key_value", *k, "master", m, "master_value", *m,
			slog.Group("g", "k", k), slog.Any("any", k))
		log.Info(fmt.Sprintf("opened with %v under %v", k, m))
	}
	out := buf.String()
	for _, want := range []string{
		"data_key=" + goldenKeyID, "data_key_value=" + goldenKeyID, "master=" + goldenFingerprint,
		`"data_key":"` + goldenKeyID + `"`, `"master_value":"` + goldenFingerprint + `"`, `"g":{"k":"` + goldenKeyID + `"}`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("slog output lacks %q:\n%s", want, out)
		}
	}
	assertNoKey(t, "slog output", out, mustHex(t, goldenDataKeyHex))
	assertNoKey(t, "slog output", out, mustHex(t, goldenMasterHex))
}

func TestErrorsShowNoKeyBytes(t *testing.T) {
	t.Parallel()
	m, k := goldenKeys(t)
	other := seal.NewDataKey()
	_, err1 := other.Open(k.Seal([]byte("x"), nil), nil)
	_, err2 := testkit.NewMaster(t).Unwrap(goldenKeyID, mustHex(t, goldenWrappedHex))
	_, err3 := m.Unwrap(goldenKeyID, []byte{1, 2, 3})
	for _, err := range []error{err1, err2, err3} {
		if err == nil {
			t.Fatal("want an error")
		}
		assertNoKey(t, "error", err.Error(), mustHex(t, goldenDataKeyHex))
		assertNoKey(t, "error", err.Error(), mustHex(t, goldenMasterHex))
	}
}

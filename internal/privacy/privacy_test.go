package privacy_test

import (
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/privacy"
)

func TestPayloadJSON(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ body, want string }{
		{`{"a":1}`, `{"a":1}`},
		{`not json`, `"not json"`},
		{``, `""`},
	} {
		if got := string(privacy.PayloadJSON([]byte(tt.body))); got != tt.want {
			t.Errorf("PayloadJSON(%q) = %s, want %s", tt.body, got, tt.want)
		}
	}
}

// A subject is normalised; one that does not normalise is EINVALID naming
// the field and not the value.
func TestSubject(t *testing.T) {
	t.Parallel()
	got, err := privacy.Subject("subject", "email", "  Ada@Example.COM ")
	if err != nil || got != (sluice.Subject{Type: "email", Value: "ada@example.com"}) {
		t.Fatalf("Subject = %+v, %v", got, err)
	}
	_, err = privacy.Subject("subjects", "phone", "call me, Ada")
	if msg := sluice.ErrorMessage(err); sluice.ErrorCode(err) != sluice.EINVALID || !strings.HasPrefix(msg, "subjects: ") ||
		strings.Contains(msg, "Ada") {
		t.Fatalf("Subject of a phone number without digits = %v, want EINVALID naming the field, not the value", err)
	}
}

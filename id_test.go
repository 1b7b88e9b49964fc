package sluice

import (
	"strings"
	"testing"
)

func TestNewIDIsPrefixedAndSorted(t *testing.T) {
	t.Parallel()
	prev := ""
	seen := make(map[string]bool)
	for range 10000 {
		id := NewID(PrefixEvent)
		if !strings.HasPrefix(id, "evt_") || len(id) != len("evt_")+26 {
			t.Fatalf("NewID = %q, want evt_ and 26 characters", id)
		}
		if id <= prev {
			t.Fatalf("NewID %q not after %q", id, prev)
		}
		if seen[id] {
			t.Fatalf("NewID repeated %q", id)
		}
		seen[id] = true
		prev = id
	}
}

func TestEncodeULIDKnownValue(t *testing.T) {
	t.Parallel()
	// The ULID spec's example: 01ARZ3NDEK is 1469922850259 ms.
	var raw [16]byte
	ms := uint64(1469922850259)
	for i := 5; i >= 0; i-- {
		raw[i] = byte(ms)
		ms >>= 8
	}
	var out [26]byte
	encodeULID(out[:], raw)
	if got := string(out[:10]); got != "01ARZ3NDEK" {
		t.Fatalf("time part = %s, want 01ARZ3NDEK", got)
	}
}

func TestValidID(t *testing.T) {
	for _, prefix := range []string{PrefixEvent, PrefixAudit, PrefixTenant} {
		if id := NewID(prefix); !ValidID(id) {
			t.Errorf("ValidID(%q) = false for a new id", id)
		}
	}
	for _, s := range []string{"", "zzz", "evt_", "evt_01ARZ3NDEKTSV4RRFFQ69G5FA", "evt_01ARZ3NDEKTSV4RRFFQ69G5FAVX",
		"xyz_01ARZ3NDEKTSV4RRFFQ69G5FAV", "evt_01ARZ3NDEKTSV4RRFFQ69G5FAU", "evt_01arz3ndektsv4rrffq69g5fav"} {
		if ValidID(s) {
			t.Errorf("ValidID(%q) = true", s)
		}
	}
}

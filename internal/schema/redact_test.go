package schema

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRedact(t *testing.T) {
	for _, c := range []struct{ path, want string }{
		{"data.object.id", "data.object.id"},
		{"items[].sku", "items[].sku"},
		{"by_email.*.plan", "by_email.*.plan"}, // the present form stays
		{"by_email.ada@example", "by_email.*"},
		{"scores.42", "scores.*"},
		{"rows[].José Núñez", "rows[].*"},
		{"rows[][].+44 20 7946 0000.ok", "rows[][].*.ok"},
		{"by_id.123e4567-e89b-12d3-a456-426614174000[].x", "by_id.*[].x"},
		{"", "*"},
		{"a.", "a.*"},
		{"a[]", "*"}, // a last key has no array after it
		// Every dot separates: a key holding one leaves identifier-looking
		// parts (RedactAll finds the key whole).
		{"by_email.ada.lovelace@example.com", "by_email.ada.*.com"},
	} {
		if got := Redact(c.path); got != c.want {
			t.Errorf("Redact(%q) = %q, want %q", c.path, got, c.want)
		}
	}
}

// A path needing no change comes back without a copy.
func TestRedactKeepsAPresentPath(t *testing.T) {
	path := "data.object.items[].sku"
	if n := testing.AllocsPerRun(100, func() { _ = Redact(path) }); n != 0 {
		t.Fatalf("Redact of a present path allocates %v times", n)
	}
}

// RedactAll turns the paths stored before the rule into those Paths lists
// now, keys with dots included.
func TestRedactAll(t *testing.T) {
	for _, body := range []string{
		`{"by_email":{"ada.lovelace@example.com":{"plan":"pro","seats":{"n":1}},"bob@example.org":{"plan":"free"}}}`,
		`{"type":"x","data":{"object":{"customer":{"email":"ada@example.com"}}},"people":[{"Ada Lovelace":{"born":1815}},{"José.Núñez":[{"a":1}]}]}`,
		`{"by_id":{"123e4567-e89b-12d3-a456-426614174000":{"x":1},"cus_NffrFeUfNV2Hib":{"x":2}},"scores":{"1":{"v":1},"2":{"v":2}}}`,
		`{"a.b.c":{"d.e":{"f":1}},"g":[[{"h.i":{"j":1}}]],"$ref":"#","@odata.type":"x"}`,
		`{"k":[{"":1}],"l":{"":{"m":1}}}`,
	} {
		old := oldPaths([]byte(body))
		got := RedactAll(old)
		if len(got) != len(old) {
			t.Fatalf("RedactAll returned %d paths for %d", len(got), len(old))
		}
		if want := Paths([]byte(body)); !sameSet(got, want) {
			t.Errorf("body %s:\nRedactAll(old paths) = %q,\nPaths now             = %q", body, unique(got), want)
		}
	}
}

// A key of many dots costs time in their number, not its square, and
// stays redacted.
func TestRedactAllManyDots(t *testing.T) {
	paths := []string{"x", "x." + strings.Repeat("a.", 200_000) + "b", "x.y"}
	for i := range 20 { // enough for the set to be a hashed map
		paths = append(paths, strings.Repeat("z", i+1))
	}
	start := time.Now()
	got := RedactAll(paths)
	if got[1] != Placeholder || got[2] != "x.y" {
		t.Fatalf("RedactAll = %q…", got[:3])
	}
	// Unbounded, the lookups hashed 40 GB; bounded, a few MB.
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("RedactAll took %s", d)
	}
}

// Redacting twice changes nothing.
func TestRedactAllPresentPaths(t *testing.T) {
	paths := Paths([]byte(`{"by_email":{"ada@example.com":{"plan":"pro"}},"items":[{"sku":"a","tags":[{"k":1}]}]}`))
	if got := RedactAll(paths); !slices.Equal(got, paths) {
		t.Fatalf("RedactAll(%q) = %q", paths, got)
	}
}

// On any object, what RedactAll makes of the paths stored before the rule
// are paths of the present form, and the paths Paths lists now unless a
// key held a dot or brackets (which stored paths cannot always tell from
// two keys), a top-level key was empty (its children were stored as
// top-level keys) or the old walk stopped at MaxPaths.
func FuzzRedactAll(f *testing.F) {
	for _, s := range []string{`{"by_email":{"ada.b@example.com":{"plan":1}}}`, `{"a":[{"b.c":{"d":1}}]}`, `{"":{"":1}}`,
		`{"1":{"2":[{"x y":3}]}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if !json.Valid(body) {
			return
		}
		old := oldPaths(body)
		got := RedactAll(old)
		for _, p := range got {
			if Redact(p) != p {
				t.Fatalf("RedactAll gave %q, not in the present form", p)
			}
		}
		if len(old) >= MaxPaths || ambiguousKeys(body) {
			return
		}
		if want := Paths(body); !sameSet(got, want) {
			t.Fatalf("RedactAll(%q) = %q, Paths(%q) = %q", old, got, body, want)
		}
	})
}

// oldPaths are the paths Paths listed before keys that are not identifiers
// were recorded as Placeholder: every key as it is.
func oldPaths(body []byte) []string {
	return walkReference(body, func(key string) string { return key })
}

// ambiguousKeys reports whether an object key in body is empty or holds a
// dot or brackets: the paths stored before the rule could not always be
// taken apart again.
func ambiguousKeys(body []byte) bool {
	found := false
	walkReference(body, func(key string) string {
		found = found || key == "" || strings.Contains(key, ".") || strings.Contains(key, "[]")
		return key
	})
	return found
}

func unique(paths []string) []string {
	var out []string
	for _, p := range paths {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestPaths(t *testing.T) {
	for _, c := range []struct {
		body string
		want []string
	}{
		{`{"id":"evt_1","type":"invoice.paid","data":{"object":{"id":"in_1","amount":42,"customer":{"email":"ada@example.com"}}}}`,
			[]string{"id", "type", "data", "data.object", "data.object.id", "data.object.amount", "data.object.customer",
				"data.object.customer.email"}},
		{`{"items":[{"sku":"a"},{"sku":"b","qty":2}],"tags":["x","y"]}`,
			[]string{"items", "items[].sku", "items[].qty", "tags"}},
		{`{"a.b":{"c":1}}`, []string{"*", "*.c"}}, // a dot is no identifier's
		{`{"by_email":{"ada@example.com":{"plan":"pro"},"bob@example.com":{"plan":"free","seats":2}}}`,
			[]string{"by_email", "by_email.*", "by_email.*.plan", "by_email.*.seats"}},
		{`{"scores":{"1":10,"2":20},"$ref":"#/a","@type":"Person","_links":{"self-href":1}}`,
			[]string{"scores", "scores.*", "$ref", "@type", "_links", "_links.self-href"}},
		{`{"rows":[{"José Núñez":1},{"+44 20 7946 0000":{"ok":true}}]}`,
			[]string{"rows", "rows[].*", "rows[].*.ok"}},
		{`{"\u0069d":1,"\u0040x.y":2}`, []string{"id", "*"}}, // escapes are resolved first
		{`{}`, nil},
		{`[{"a":1}]`, nil}, // not an object
		{`"text"`, nil},    // not an object
		{`{"a":`, nil},     // not JSON
		{`  {"a":null}`, []string{"a"}},
	} {
		if got := Paths([]byte(c.body)); !slices.Equal(got, c.want) {
			t.Errorf("Paths(%s) = %q, want %q", c.body, got, c.want)
		}
	}
}

// Values never appear among the paths.
func TestPathsHoldNoValues(t *testing.T) {
	got := Paths([]byte(`{"email":"ada@example.com","note":"secret words","n":12345}`))
	for _, p := range got {
		for _, v := range []string{"ada", "secret", "12345"} {
			if strings.Contains(p, v) {
				t.Fatalf("path %q holds a value", p)
			}
		}
	}
}

// Keys that are personal data never appear among the paths, and however
// many there are they make one path, not one each.
func TestPathsFoldKeys(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"by_email":{`)
	for i := range 10_000 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"person%d@example.com":{"plan":"pro"}`, i)
	}
	b.WriteString(`},"by_id":{"123e4567-e89b-12d3-a456-426614174000":1,"e89b12d3-a456-4266-1417-4000123e4567":2,` +
		`"cus_NffrFeUfNV2Hib":3,"5f8d0d55b54764421b7156c3":4,"9876":5}}`)
	got := Paths([]byte(b.String()))
	want := []string{"by_email", "by_email.*", "by_email.*.plan", "by_id", "by_id.*"}
	if !slices.Equal(got, want) {
		t.Fatalf("Paths = %q, want %q", got, want)
	}
}

func TestPathsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("{")
	for i := range 2 * MaxPaths {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"k%d":1`, i)
	}
	b.WriteString("}")
	if got := Paths([]byte(b.String())); len(got) != MaxPaths || got[0] != "k0" {
		t.Fatalf("got %d paths, want the first %d", len(got), MaxPaths)
	}
	deep := strings.Repeat(`{"a":`, 2*MaxDepth) + "1" + strings.Repeat("}", 2*MaxDepth)
	got := Paths([]byte(deep))
	if len(got) != MaxDepth || strings.Count(got[len(got)-1], ".") != MaxDepth-1 {
		t.Fatalf("deep object gave %d paths, the last %q; want %d", len(got), got[len(got)-1], MaxDepth)
	}
}

func FuzzPaths(f *testing.F) {
	for _, s := range []string{`{"a":{"b":[{"c":1}]}}`, `{}`, `[]`, `{"a":`, `{"":{"":""}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got := Paths(body)
		// On valid JSON the scanner agrees with encoding/json's tokenizer.
		if json.Valid(body) {
			if want := referencePaths(body); !slices.Equal(got, want) {
				t.Fatalf("Paths(%q) = %q, encoding/json says %q", body, got, want)
			}
		}
		if len(got) > MaxPaths {
			t.Fatalf("%d paths", len(got))
		}
		seen := map[string]bool{}
		for _, p := range got {
			if seen[p] {
				t.Fatalf("path %q listed twice", p)
			}
			seen[p] = true
		}
	})
}

// BenchmarkPaths1KiB lists the paths of a 1 KiB payload, as every JSON
// event received does.
func BenchmarkPaths1KiB(b *testing.B) {
	body := []byte(`{"id":"evt_1","type":"invoice.paid","data":{"object":{"id":"in_1","amount":42,"lines":[{"sku":"a","qty":1}]}},"filler":"` +
		strings.Repeat("x", 880) + `"}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		_ = Paths(body)
	}
}

// BenchmarkPathsKeyedByEmail lists the paths of a 1 KiB payload holding a
// map keyed by email addresses: every key folds into one path.
func BenchmarkPathsKeyedByEmail(b *testing.B) {
	var body strings.Builder
	body.WriteString(`{"type":"plan.changed","by_email":{`)
	for i := 0; body.Len() < 1000; i++ {
		if i > 0 {
			body.WriteString(",")
		}
		fmt.Fprintf(&body, `"person.%d@example.com":{"plan":"pro"}`, i)
	}
	body.WriteString("}}")
	data := []byte(body.String())
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		_ = Paths(data)
	}
}

// referencePaths is the first, encoding/json implementation of Paths,
// kept to check the hand-written scanner against, with the identifier rule
// written out again with regular expressions.
func referencePaths(body []byte) []string {
	return walkReference(body, func(key string) string {
		if referenceIdentifier(key) {
			return key
		}
		return Placeholder
	})
}

var (
	identifierRE  = regexp.MustCompile(`^[$@]?[A-Za-z_][A-Za-z0-9_-]*$`)
	hexRE         = regexp.MustCompile(`^[0-9A-Fa-f]*[0-9][0-9A-Fa-f]*$`)
	wordRE        = regexp.MustCompile(`[A-Za-z0-9]+`)
	upperRE       = regexp.MustCompile(`[A-Z]`)
	lowerRE       = regexp.MustCompile(`[a-z]`)
	digitRE       = regexp.MustCompile(`[0-9]`)
	letterAfterRE = regexp.MustCompile(`[0-9][A-Za-z]`)
)

// referenceIdentifier is the rule of Paths' documentation, clause by
// clause.
func referenceIdentifier(key string) bool {
	if len(key) < 1 || len(key) > 64 || !identifierRE.MatchString(key) {
		return false
	}
	if len(digitRE.FindAllString(key, -1)) > 3 {
		return false
	}
	alnum := strings.Join(wordRE.FindAllString(key, -1), "")
	if len(alnum) >= 8 && hexRE.MatchString(alnum) {
		return false
	}
	for _, w := range wordRE.FindAllString(key, -1) {
		if len(w) >= 12 && len(upperRE.FindAllString(w, -1)) >= 3 && len(lowerRE.FindAllString(w, -1)) >= 3 &&
			letterAfterRE.MatchString(w) {
			return false
		}
	}
	return true
}

// walkReference lists the paths of body with encoding/json, each key
// written as name says.
func walkReference(body []byte, name func(key string) string) []string {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil
	}
	w := &refWalker{dec: json.NewDecoder(bytes.NewReader(body)), seen: map[string]bool{}, name: name}
	if err := w.value("", 0); err != nil && !errors.Is(err, errRefDone) {
		return nil
	}
	return w.paths
}

type refWalker struct {
	dec   *json.Decoder
	seen  map[string]bool
	paths []string
	name  func(key string) string
}

var errRefDone = errors.New("schema: enough paths")

// value walks one JSON value found at path, depth levels down.
func (w *refWalker) value(path string, depth int) error {
	tok, err := w.dec.Token()
	if err != nil {
		return err
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return nil // a scalar
	}
	switch delim {
	case '{':
		for w.dec.More() {
			key, err := w.dec.Token()
			if err != nil {
				return err
			}
			name, _ := key.(string)
			child := w.name(name)
			if path != "" {
				child = path + "." + child
			}
			if err := w.add(child); err != nil {
				return err
			}
			if err := w.child(child, depth); err != nil {
				return err
			}
		}
	case '[':
		for w.dec.More() {
			if err := w.child(path+"[]", depth); err != nil {
				return err
			}
		}
	}
	_, err = w.dec.Token() // the closing delimiter
	return err
}

// child walks a nested value, or skips it past MaxDepth.
func (w *refWalker) child(path string, depth int) error {
	if depth+1 < MaxDepth {
		return w.value(path, depth+1)
	}
	var skip json.RawMessage
	return w.dec.Decode(&skip)
}

func (w *refWalker) add(path string) error {
	if w.seen[path] {
		return nil
	}
	if len(w.paths) >= MaxPaths {
		return errRefDone
	}
	w.seen[path] = true
	w.paths = append(w.paths, path)
	return nil
}

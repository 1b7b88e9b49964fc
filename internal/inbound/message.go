package inbound

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// Message is a received webhook prepared for lookups by path. Its body is
// checked to be JSON at most once, on the first JSON lookup, so a source
// whose paths are all headers never reads it; it is read as a form at most
// once too, on the first form lookup. Lookups then walk the body's
// bytes along the path; only a body the walk cannot take is decoded, once,
// into a tree. It is safe for concurrent use.
type Message struct {
	header http.Header
	body   []byte

	once    sync.Once
	isJSON  bool     // whether the body is exactly one JSON value
	scanned bool     // whether jsonscan validated it, so lookups may walk it
	members []member // when scanned and the body is an object, its members

	treeOnce sync.Once
	root     any  // the body decoded with json.Number for numbers
	rootOK   bool // whether decoding it succeeded

	formOnce sync.Once
	form     map[string]string // the body's form fields, on the first form: lookup
}

// NewMessage returns a Message over a request's headers and raw body. It
// keeps both without copying; the caller must not change them afterwards.
func NewMessage(h http.Header, body []byte) *Message {
	return &Message{header: h, body: body}
}

// Lookup returns the value at path as a string. For "header:<Name>" that is
// the header's first value (the name matched case-insensitively), which may
// be empty; "header:webhook-<x>" falls back to svix-<x>. For "form:<name>"
// it is the first value of the body's form field of that name, decoded,
// which may be empty: the body is read as multipart/form-data when the
// content type says so and as application/x-www-form-urlencoded otherwise.
// For a JSON dot path it is a JSON string as is, or a number or boolean as
// its literal text; an object, array or null, a missing key, field or
// index, an invalid path and a body that is not JSON give ok false.
func (m *Message) Lookup(path string) (value string, ok bool) {
	if name, isForm := strings.CutPrefix(path, FormPathPrefix); isForm {
		if name == "" {
			return "", false
		}
		m.formOnce.Do(func() { m.form = formFields(m.header, m.body) })
		value, ok = m.form[name]
		return value, ok
	}
	if name, isHeader := strings.CutPrefix(path, HeaderPathPrefix); isHeader {
		if name == "" {
			return "", false
		}
		if v, ok := firstHeader(m.header, name); ok {
			return v, true
		}
		// Svix sends the Standard Webhooks headers as svix-*: a webhook-*
		// path finds its svix-* twin, so one path serves both senders.
		if rest, ok := cutPrefixFold(name, "webhook-"); ok {
			return firstHeader(m.header, "svix-"+rest)
		}
		return "", false
	}
	if path == "" {
		return "", false
	}
	m.once.Do(m.check)
	if !m.isJSON {
		return "", false
	}
	if m.scanned {
		if value, ok, walked := m.walk(path); walked {
			return value, ok
		}
	}
	m.treeOnce.Do(m.parse)
	if !m.rootOK {
		return "", false
	}
	return lookupTree(m.root, path)
}

// lookupTree is Lookup on the decoded body.
func lookupTree(cur any, path string) (value string, ok bool) {
	for seg := range strings.SplitSeq(path, ".") {
		if seg == "" {
			return "", false
		}
		switch c := cur.(type) {
		case map[string]any:
			if cur, ok = c[seg]; !ok {
				return "", false
			}
		case []any:
			if !allDigits(seg) {
				return "", false
			}
			i, err := strconv.Atoi(seg)
			if err != nil || i >= len(c) {
				return "", false
			}
			cur = c[i]
		default:
			return "", false
		}
	}
	switch x := cur.(type) {
	case string:
		return x, true
	case json.Number:
		return string(x), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

// cutPrefixFold is strings.CutPrefix ignoring ASCII case.
func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return s, false
	}
	return s[len(prefix):], true
}

// parse decodes the body, requiring exactly one JSON value, so that a body
// with trailing data is treated as not JSON, as json.Unmarshal would.
func (m *Message) parse() {
	dec := json.NewDecoder(bytes.NewReader(m.body))
	dec.UseNumber()
	var root any
	if err := dec.Decode(&root); err != nil {
		return
	}
	if _, err := dec.Token(); err != io.EOF {
		return
	}
	m.root, m.rootOK = root, true
}

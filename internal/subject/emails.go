package subject

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/sluicehq/sluice/internal/jsonscan"
	"github.com/sluicehq/sluice/internal/urlform"
)

// maxDepth is the deepest nesting a JSON body may have: encoding/json's own
// limit, so a body is JSON here exactly when json.Valid says so.
const maxDepth = 10000

// Emails returns every distinct email address in a webhook body, each as
// Normalize writes an "email" subject (so that an erasure naming the
// address finds it), in the order first seen, or nil when there is none.
// There is no limit on their number but the body's size.
//
// What is searched depends on what the body is:
//
//   - one JSON value (json.Valid), whatever contentType says: every string
//     value and object key, JSON-decoded ("ada\u0040example.com" is an
//     address);
//   - newline-delimited JSON, and any body that a JSON content type names
//     but that is not one JSON value: each line (split at '\n') as JSON
//     when it is one value, as text otherwise;
//   - application/x-www-form-urlencoded: each field's name and value,
//     split at '&' and '=' and percent-decoded with '+' as a space;
//   - anything else — XML, HTML, text/plain, multipart, a type never heard
//     of — as text, whole.
//
// With no content type, or application/octet-stream, a body that is not
// one JSON value is newline-delimited JSON if it starts with '{' or '[',
// form-encoded if it looks like a form (see looksLikeForm), else text.
//
// Every text so found — a JSON string or key, a form name or value, a line,
// a whole body — is searched as it is, then, when it has "&#", with its
// XML and HTML character references decoded ("ada&#64;example.com"), and
// then, when it has "%40", percent-decoded without touching '+'
// ("ada%40example.com", "j%C3%BCrgen%40example.de"). An address found in
// several of these is returned once.
//
// An address is found anywhere in a text ("contact: Ada <Ada@Example.com>,
// thanks" yields "ada@example.com"). The grammar is narrower than RFC 5322
// and RFC 6531, to find what people write and not what merely parses:
//
//   - local part: ASCII letters, digits and "._%+-", and non-ASCII letters,
//     marks and digits; 1 to 64 bytes, no leading, trailing or doubled '.'
//     (dots just before it are taken as punctuation);
//   - '@';
//   - domain: two or more labels of ASCII letters, digits and '-', and
//     non-ASCII letters, marks and digits (1 to 63 bytes, not starting or
//     ending with '-' nor starting with a mark) joined by single dots; the
//     last label letters and marks, starting with a letter, two or more of
//     them letters ("com", "рф", "中国"), or an A-label ("xn--p1ai"); dots
//     and hyphens just after it are taken as punctuation;
//   - 254 bytes in all, as written (UTF-8);
//   - not glued to more address-like text: a candidate preceded or followed
//     by '@', or followed by '_', '%' or '+', is skipped rather than cut
//     down to an address nobody wrote;
//   - between an ASCII letter or digit and a character of a script written
//     without spaces between words (Han, Hiragana, Katakana, Hangul, Thai,
//     Lao, Khmer, Myanmar) the text is taken to break, so
//     "请联系ada@example.com谢谢" yields "ada@example.com". A local part
//     mixing those scripts with ASCII letters is therefore cut at the
//     change.
//
// Bytes that are not UTF-8 break the text, as U+FFFD does. Emails is
// linear in the body's length; it allocates for the addresses it returns,
// for decoded copies of texts that need decoding, and not otherwise.
func Emails(body []byte, contentType string) []string {
	var f finder
	if !f.clues.of(body) {
		return nil
	}
	if f.json(body) {
		return f.out
	}
	switch kindOf(contentType) {
	case kindJSON, kindLines:
		f.lines(body)
	case kindForm:
		f.form(body)
	case kindText:
		f.scanTextWith(body, &f.clues)
	default:
		switch {
		case startsLikeJSON(body):
			f.lines(body)
		case looksLikeForm(body):
			f.form(body)
		default:
			f.scanTextWith(body, &f.clues)
		}
	}
	return f.out
}

// bodyKind is what a content type says a body is.
type bodyKind int

const (
	kindUnknown bodyKind = iota // no content type, or application/octet-stream
	kindJSON
	kindLines // newline-delimited JSON
	kindForm
	kindText // any other type
)

// kindOf reads a Content-Type header: the media type before any ';',
// compared without case.
func kindOf(contentType string) bodyKind {
	mt, _, _ := strings.Cut(contentType, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	switch mt {
	case "", "application/octet-stream":
		return kindUnknown
	case "application/json", "text/json":
		return kindJSON
	case "application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonl",
		"application/jsonlines", "application/x-jsonlines", "application/json-seq":
		return kindLines
	case "application/x-www-form-urlencoded":
		return kindForm
	}
	if strings.HasSuffix(mt, "+json") {
		return kindJSON
	}
	return kindText
}

// startsLikeJSON reports whether body's first byte after white space (and a
// UTF-8 byte order mark) opens a JSON object or array.
func startsLikeJSON(body []byte) bool {
	body = bytes.TrimPrefix(body, []byte("\uFEFF"))
	body = bytes.TrimLeft(body, " \t\r\n")
	return len(body) > 0 && (body[0] == '{' || body[0] == '[')
}

// looksLikeForm reports whether body could be form-encoded: it has an '='
// and only the printable ASCII that encoders leave as it is or produce
// (no space, quote, angle bracket, brace, backslash, caret, backquote or
// pipe). A line of text almost always has a space, and a form never does.
func looksLikeForm(body []byte) bool {
	if bytes.IndexByte(body, '=') < 0 {
		return false
	}
	for _, c := range body {
		if c <= ' ' || c >= 0x7f {
			return false
		}
		switch c {
		case '"', '<', '>', '{', '}', '\\', '^', '`', '|':
			return false
		}
	}
	return true
}

// clues records which of the bytes an address can come from a text has:
// '@' itself, or the start of an escape that may decode to one — a '%', an
// '&' of a character reference, and a JSON escape of one of these three. A
// text with none of them holds no address, however it is decoded.
type clues struct{ at, esc, pct, amp bool }

// of notes the clues in body and reports whether it has any. Each is one
// IndexByte pass; the JSON escapes are looked for only in a body with a
// '\', so that the many bodies with "\n" or "\/" and no address are still
// answered without reading their JSON.
func (c *clues) of(body []byte) bool {
	c.at = bytes.IndexByte(body, '@') >= 0
	c.pct = bytes.IndexByte(body, '%') >= 0
	c.amp = bytes.IndexByte(body, '&') >= 0
	c.esc = bytes.IndexByte(body, '\\') >= 0 && (bytes.Contains(body, []byte(`\u0040`)) ||
		bytes.Contains(body, []byte(`\u0025`)) || bytes.Contains(body, []byte(`\u0026`)))
	return c.at || c.esc || c.pct || c.amp
}

// in reports whether a part of the body may hold an address, looking only
// for the clues the whole body has.
func (c *clues) in(t []byte) bool {
	return c.at && bytes.IndexByte(t, '@') >= 0 ||
		c.esc && bytes.IndexByte(t, '\\') >= 0 ||
		c.pct && bytes.IndexByte(t, '%') >= 0 ||
		c.amp && bytes.IndexByte(t, '&') >= 0
}

// finder gathers the distinct addresses of one body.
type finder struct {
	clues clues
	seen  map[string]struct{}
	out   []string
	// Scratch for decoded copies, reused from text to text: str for a JSON
	// string or a form field, ref and pct for a text with its character
	// references or percent escapes decoded.
	str, ref, pct []byte
	low           [maxEmailLen]byte // an address lower-cased
}

// json reports whether body is one JSON value, and if so adds the
// addresses in its strings and keys. It validates the body in one pass and
// then decodes only the strings that may hold an address; it builds no
// tree, however deep or large the body. A body nested deeper than jsonscan
// checks is read as encoding/json's token stream instead.
func (f *finder) json(body []byte) bool {
	if !jsonscan.Valid(body) {
		// Only an array or object nests: anything else jsonscan refuses is
		// not JSON, and asking encoding/json would cost a second pass.
		if !startsLikeJSON(body) || !json.Valid(body) {
			return false
		}
		return f.tokens(body)
	}
	for tok := range jsonscan.Strings(body) {
		raw := tok[1 : len(tok)-1]
		if !f.clues.in(raw) {
			continue
		}
		// encoding/json replaces bytes that are not UTF-8, and a
		// replacement differs from the byte when a later decoding of the
		// text joins it to the bytes an escape becomes.
		if bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
			f.scanTextWith(raw, &f.clues)
			continue
		}
		f.str = appendJSONString(f.str[:0], raw)
		f.scanText(f.str)
	}
	return true
}

// tokens is json for a body jsonscan cannot check for its depth, which
// json.Valid has accepted.
func (f *finder) tokens(body []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	// Numbers are skipped, but decoding them as float64 would reject valid
	// JSON such as 1e400.
	dec.UseNumber()
	depth := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return true
		}
		if err != nil {
			return false // json.Valid said otherwise; believe encoding/json
		}
		switch t := tok.(type) {
		case json.Delim:
			if t == '{' || t == '[' {
				depth++
				if depth > maxDepth {
					return false
				}
			} else {
				depth--
			}
		case string:
			// Decoded, so the body's clues do not apply; scanText looks
			// no further than an IndexByte into a text without any.
			f.scanText([]byte(t))
		}
	}
}

// lines adds the addresses of each line of body: its JSON strings and keys
// when it is one JSON value, else the line as text.
func (f *finder) lines(body []byte) {
	for line := range bytes.SplitSeq(body, []byte{'\n'}) {
		if !f.clues.in(line) || f.json(line) {
			continue
		}
		f.scanTextWith(line, &f.clues)
	}
}

// form adds the addresses in the names and values of a form body.
func (f *finder) form(body []byte) {
	for name, value := range urlform.Fields(body) {
		for _, part := range [2][]byte{name, value} {
			// '+' decodes to a space, which cannot make an address.
			if f.clues.in(part) {
				f.str = urlform.Unescape(f.str[:0], part, true)
				f.scanText(f.str)
			}
		}
	}
}

// scanText adds the addresses in one text: as it is, with its character
// references decoded, and percent-decoded.
func (f *finder) scanText(t []byte) { f.scanTextWith(t, &allClues) }

// allClues are the clues of a decoded text: any may be there.
var allClues = clues{at: true, esc: true, pct: true, amp: true}

// scanTextWith is scanText on a part of the body as it is, which can only
// have the clues the body has: a body without '&' has no character
// reference to look for.
func (f *finder) scanTextWith(t []byte, c *clues) {
	f.scan(t)
	if c.amp && bytes.Contains(t, []byte("&#")) {
		f.ref = appendCharRefsDecoded(f.ref[:0], t)
		f.scan(f.ref)
	}
	if c.pct && bytes.Contains(t, []byte("%40")) {
		f.pct = urlform.Unescape(f.pct[:0], t, false)
		f.scan(f.pct)
	}
}

package subject_test

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sluicehq/sluice/internal/subject"
	"github.com/sluicehq/sluice/internal/testpayload"
)

// referenceEmails is Emails written the slow and plain way, to check it
// against: decode the whole body into its texts with encoding/json and
// regular expressions, decode each text into its variants, split each
// variant into words, and keep every word with one '@' whose parts match
// the grammar's regular expressions, as Normalize writes it.
func referenceEmails(body []byte, contentType string) []string {
	var out []string
	seen := map[string]bool{}
	for _, text := range referenceTexts(string(body), contentType) {
		variants := []string{text}
		if strings.Contains(text, "&#") {
			variants = append(variants, charRefRE.ReplaceAllStringFunc(text, decodeCharRef))
		}
		if strings.Contains(text, "%40") {
			variants = append(variants, percentRE.ReplaceAllStringFunc(text, decodePercent))
		}
		for _, v := range variants {
			for _, addr := range referenceAddresses(v) {
				n, err := subject.Normalize(subject.Subject{Type: "email", Value: addr})
				if err != nil || seen[n.Value] {
					continue
				}
				seen[n.Value] = true
				out = append(out, n.Value)
			}
		}
	}
	return out
}

// referenceTexts are the texts of a body, as Emails's comment has them.
func referenceTexts(body, contentType string) []string {
	if json.Valid([]byte(body)) {
		return jsonStrings(body)
	}
	mediaType := strings.ToLower(strings.TrimSpace(strings.SplitN(contentType, ";", 2)[0]))
	switch {
	case mediaType == "application/json" || mediaType == "text/json" || strings.HasSuffix(mediaType, "+json") ||
		ndjsonTypes[mediaType]:
		return lineTexts(body)
	case mediaType == "application/x-www-form-urlencoded":
		return formTexts(body)
	case mediaType != "" && mediaType != "application/octet-stream":
		return []string{body}
	}
	if first := strings.TrimLeft(strings.TrimPrefix(body, "\uFEFF"), " \t\r\n"); first != "" && (first[0] == '{' || first[0] == '[') {
		return lineTexts(body)
	}
	if strings.Contains(body, "=") && formBytesRE.MatchString(body) {
		return formTexts(body)
	}
	return []string{body}
}

var ndjsonTypes = map[string]bool{"application/x-ndjson": true, "application/ndjson": true, "application/jsonl": true,
	"application/x-jsonl": true, "application/jsonlines": true, "application/x-jsonlines": true, "application/json-seq": true}

// formBytesRE is printable ASCII less what a form encoder never leaves.
var formBytesRE = regexp.MustCompile("^[!#$%&'()*+,\\-./0-9:;=?@A-Z\\[\\]_a-z~]*$")

func jsonStrings(body string) []string {
	texts, err := testpayload.Strings([]byte(body))
	if err != nil {
		panic("json.Valid accepted what encoding/json cannot read: " + err.Error())
	}
	return texts
}

func lineTexts(body string) []string {
	var texts []string
	for _, line := range strings.Split(body, "\n") {
		if json.Valid([]byte(line)) {
			texts = append(texts, jsonStrings(line)...)
		} else {
			texts = append(texts, line)
		}
	}
	return texts
}

func formTexts(body string) []string {
	var texts []string
	for _, part := range strings.Split(body, "&") {
		if part == "" {
			continue
		}
		name, value, _ := strings.Cut(part, "=")
		texts = append(texts, formRE.ReplaceAllStringFunc(name, decodePercent),
			formRE.ReplaceAllStringFunc(value, decodePercent))
	}
	return texts
}

var (
	charRefRE = regexp.MustCompile(`&#[0-9]+;|&#[xX][0-9a-fA-F]+;`)
	percentRE = regexp.MustCompile(`%[0-9a-fA-F]{2}`)
	formRE    = regexp.MustCompile(`%[0-9a-fA-F]{2}|\+`)
)

func decodeCharRef(ref string) string {
	digits, base := strings.TrimSuffix(ref[2:], ";"), 10
	if digits[0] == 'x' || digits[0] == 'X' {
		digits, base = digits[1:], 16
	}
	n, err := strconv.ParseUint(digits, base, 64)
	if err != nil || n == 0 || n > utf8.MaxRune || 0xD800 <= n && n <= 0xDFFF {
		return ref
	}
	return string(rune(n))
}

func decodePercent(esc string) string {
	if esc == "+" {
		return " "
	}
	b, _ := strconv.ParseUint(esc[1:], 16, 8)
	return string([]byte{byte(b)})
}

// The grammar, as regular expressions over the words of a text.
var (
	// wordRE is a run of the characters an address is made of, and '@'.
	// Bytes that are not UTF-8 match nothing, as U+FFFD does not.
	wordRE  = regexp.MustCompile(`[\p{L}\p{M}\p{Nd}._%+@-]+`)
	localRE = regexp.MustCompile(`^[\p{L}\p{M}\p{Nd}_%+-]+(\.[\p{L}\p{M}\p{Nd}_%+-]+)*$`)
	labelRE = regexp.MustCompile(`^[\p{L}\p{Nd}]([\p{L}\p{M}\p{Nd}-]*[\p{L}\p{M}\p{Nd}])?$`)
	tldRE   = regexp.MustCompile(`^(\p{L}\p{M}*\p{L}[\p{L}\p{M}]*|(?i:xn--)[a-zA-Z0-9-]+)$`)
	// spacelessRE is a character of a script written without spaces.
	spacelessRE = regexp.MustCompile(`^[\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}]$`)
)

// referenceAddresses returns the addresses in one text, as written.
func referenceAddresses(text string) []string {
	var out []string
	for _, word := range wordRE.FindAllString(breakScripts(text), -1) {
		if strings.Count(word, "@") != 1 {
			continue // glued to another address, or to nothing
		}
		local, domain, _ := strings.Cut(word, "@")
		local = strings.TrimLeft(local, ".")
		domain = strings.TrimRight(domain, ".-")
		if len(local)+1+len(domain) > 254 || len(local) > 64 || !localRE.MatchString(local) {
			continue
		}
		labels := strings.Split(domain, ".")
		ok := len(labels) >= 2 && tldRE.MatchString(labels[len(labels)-1])
		for _, label := range labels {
			ok = ok && len(label) <= 63 && labelRE.MatchString(label)
		}
		if ok {
			out = append(out, local+"@"+domain)
		}
	}
	return out
}

// breakScripts puts a space between each ASCII letter or digit and each
// character of a script written without spaces that touch.
func breakScripts(text string) string {
	var b strings.Builder
	prev := ""
	for _, r := range text {
		cur := string(r)
		if isASCIIAlnum(prev) && spacelessRE.MatchString(cur) || spacelessRE.MatchString(prev) && isASCIIAlnum(cur) {
			b.WriteByte(' ')
		}
		b.WriteString(cur)
		prev = cur
	}
	return b.String()
}

func isASCIIAlnum(s string) bool {
	return len(s) == 1 && ('a' <= s[0] && s[0] <= 'z' || 'A' <= s[0] && s[0] <= 'Z' || '0' <= s[0] && s[0] <= '9')
}

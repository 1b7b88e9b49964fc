package inbound

import (
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/sluicehq/sluice"
)

// HeaderPathPrefix starts a path that names a header instead of a place in
// the JSON body: "header:X-GitHub-Event".
const HeaderPathPrefix = "header:"

// Bounds on a path.
const (
	maxPathLen      = 512
	maxPathSegments = 32
)

// DefaultPaths returns the default event type path and event id path for a
// verification type (docs/api.md): stripe "type"/"id"; github
// "header:X-GitHub-Event"/"header:X-GitHub-Delivery"; shopify
// "header:X-Shopify-Topic"/"header:X-Shopify-Webhook-Id"; standard-webhooks
// "type"/"header:webhook-id"; every other type, known or not, "type"/"id".
func DefaultPaths(verificationType string) (typePath, idPath string) {
	switch verificationType {
	case sluice.VerifyGitHub:
		return "header:X-GitHub-Event", "header:X-GitHub-Delivery"
	case sluice.VerifyShopify:
		return "header:X-Shopify-Topic", "header:X-Shopify-Webhook-Id"
	case sluice.VerifyStandardWebhooks:
		return "type", "header:webhook-id"
	}
	return "type", "id"
}

// CheckPath validates a path: "header:<Name>" with a valid HTTP header name,
// "form:<name>" with a non-empty form field name ("form:customer[email]",
// the name as decoded), or a JSON dot path of non-empty segments
// ("data.object.id"; a segment of only digits also indexes an array,
// "items.0.sku"); in valid UTF-8, a JSON path at most 32 segments, and any
// path at most 512 bytes. A key that itself contains a dot cannot be
// addressed. The error describes the problem without naming the field, so
// the caller prefixes it ("event_type_path: …") and makes it EINVALID.
func CheckPath(path string) error {
	if path == "" {
		return errors.New("required")
	}
	if len(path) > maxPathLen {
		return errors.New("at most 512 bytes")
	}
	if name, ok := strings.CutPrefix(path, HeaderPathPrefix); ok {
		if !validHeaderName(name) {
			return errors.New("header:<Name> needs a valid HTTP header name")
		}
		return nil
	}
	if !utf8.ValidString(path) {
		return errors.New("must be valid UTF-8")
	}
	if name, ok := strings.CutPrefix(path, FormPathPrefix); ok {
		if name == "" {
			return errors.New("form:<name> needs a form field name")
		}
		return nil
	}
	if strings.Count(path, ".")+1 > maxPathSegments {
		return errors.New("at most 32 segments")
	}
	for seg := range strings.SplitSeq(path, ".") {
		if seg == "" {
			return errors.New("a JSON dot path has no empty segments")
		}
	}
	return nil
}

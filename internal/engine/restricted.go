package engine

import (
	"context"
	"slices"
	"strings"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/jsonscan"
	"github.com/sluicehq/sluice/internal/schema"
	"github.com/sluicehq/sluice/internal/subject"
)

// Restricted data (sluice.RestrictedData): where a new event carries its
// subjects is kept with it, as paths and types, never values, so that
// every claim of its deliveries can withhold the values of a restricted
// subject type from a destination without a grant, whenever the tenant
// restricts it; and a field path new to a source's event type that the
// tenant restricts raises sluice.anomaly.restricted_field.

// Bounds on the walk of a payload for its subjects, so an adversarial
// payload costs little; a value deeper or later is not located.
const (
	maxLocateDepth  = 32
	maxLocateValues = 10_000
	maxLocated      = 100 // paths kept of one event
)

// restrictedOf returns the tenant's restricted data policy, as read
// within policyLifetime.
func (s *Store) restrictedOf(ctx context.Context, tenantID string) (sluice.RestrictedData, error) {
	p, err := s.tenantPolicy(ctx, tenantID)
	return p.restricted, err
}

// fillRestricted gives each claim its tenant's restricted data policy.
// A tenant being deleted has none: its deliveries go with it.
func (s *Store) fillRestricted(ctx context.Context, claims []*sluice.Claim) error {
	for _, c := range claims {
		r, err := s.restrictedOf(ctx, c.Delivery.TenantID)
		if sluice.ErrorCode(err) == sluice.ENOTFOUND {
			continue // a tenant being deleted, with its deliveries
		}
		if err != nil {
			return err
		}
		c.Restricted = r
	}
	return nil
}

// subjectLocations returns where the new event carries its subjects: the
// JSON paths of its source's subject paths, and the paths of a JSON
// payload's members whose value (or key) is one of in.Subjects once
// normalised as its type, or, for an email subject, holds it in its text.
// Paths step through arrays without an index, and a key that is not an
// identifier (schema.Identifier) or is itself a subject is written "*":
// what is kept names no value.
func subjectLocations(in *sluice.NewEvent) []sluice.SubjectPath {
	var out []sluice.SubjectPath
	add := func(p sluice.SubjectPath) {
		if len(out) < maxLocated && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	for _, p := range in.SubjectPaths {
		if !strings.HasPrefix(p.Path, "header:") && !strings.HasPrefix(p.Path, "form:") {
			add(sluice.SubjectPath{Path: p.Path, Type: strings.ToLower(p.Type)})
		}
	}
	body := in.Payload.Body
	if len(in.Subjects) == 0 || !jsonPayload(in.Payload.ContentType) || !jsonscan.Valid(body) {
		return out
	}
	l := locator{values: map[string]map[string]bool{}, add: add}
	for _, subj := range in.Subjects {
		n, err := subject.Normalize(subject.Subject{Type: subj.Type, Value: subj.Value})
		if err != nil {
			continue
		}
		if l.values[n.Type] == nil {
			l.values[n.Type] = map[string]bool{}
			l.types = append(l.types, n.Type)
		}
		l.values[n.Type][n.Value] = true
	}
	l.walk(body, nil, 0)
	return out
}

// jsonPayload reports whether a payload of the content type is looked
// into as JSON, as observationsOf does.
func jsonPayload(contentType string) bool {
	return contentType == "" || strings.Contains(contentType, "json")
}

// locator finds the paths of a payload's subjects.
type locator struct {
	values map[string]map[string]bool // normalised values, by type
	types  []string
	seen   int
	add    func(sluice.SubjectPath)
}

// walk looks into the valid JSON value v at path.
func (l *locator) walk(v []byte, path []string, depth int) {
	if depth > maxLocateDepth || l.seen >= maxLocateValues {
		return
	}
	l.seen++
	switch v[0] {
	case '{':
		for k, member := range jsonscan.Members(v) {
			key, _ := jsonscan.DecodeString(k)
			keyTypes := l.typesOf(key)
			seg := key
			if len(keyTypes) > 0 || !schema.Identifier(key) {
				seg = schema.Placeholder
			}
			inner := append(path[:len(path):len(path)], seg)
			for _, t := range keyTypes {
				l.add(sluice.SubjectPath{Path: strings.Join(inner, "."), Type: t})
			}
			l.walk(member, inner, depth+1)
		}
	case '[':
		for e := range jsonscan.Elements(v) {
			l.walk(e, path, depth+1)
		}
	case '"':
		if len(path) > 0 {
			s, _ := jsonscan.DecodeString(v)
			l.leaf(s, path)
		}
	case 't', 'f', 'n':
	default: // a number: its text, as a subject path would read it
		if len(path) > 0 {
			l.leaf(string(v), path)
		}
	}
}

// leaf records path for each type of subject the text is.
func (l *locator) leaf(text string, path []string) {
	for _, t := range l.typesOf(text) {
		l.add(sluice.SubjectPath{Path: strings.Join(path, "."), Type: t})
	}
}

// typesOf returns the types of the event's subjects that text is, once
// normalised, or, for email, holds in its text.
func (l *locator) typesOf(text string) []string {
	var out []string
	for _, t := range l.types {
		if n, err := subject.Normalize(subject.Subject{Type: t, Value: text}); err == nil && l.values[t][n.Value] {
			out = append(out, t)
			continue
		}
		if t == "email" && strings.Contains(text, "@") {
			for _, e := range subject.Emails([]byte(text), "text/plain") {
				if n, err := subject.Normalize(subject.Subject{Type: t, Value: e}); err == nil && l.values[t][n.Value] {
					out = append(out, t)
					break
				}
			}
		}
	}
	return out
}

// restrictedDrift returns the field paths among obs, new to the store
// (isNew), that the policy restricts: at or inside one of its paths, or
// where the event carries a subject of a restricted type (located).
func restrictedDrift(obs []sluice.Observation, isNew []bool, policy sluice.RestrictedData,
	located []sluice.SubjectPath) []string {
	if policy.Empty() {
		return nil
	}
	restricted := policy.PathsOf(located)
	var out []string
	for i, o := range obs {
		if i >= len(isNew) || !isNew[i] || o.Kind != sluice.ObservedField {
			continue
		}
		if slices.ContainsFunc(restricted, func(r string) bool { return sluice.PathCovers(r, o.Name) }) {
			out = append(out, o.Name)
		}
	}
	return out
}

// restrictedDetail describes a restricted field's arrival: the paths,
// never a value.
func restrictedDetail(paths []string) string {
	return "new field paths restricted as personal data: " + strings.Join(paths, ", ")
}

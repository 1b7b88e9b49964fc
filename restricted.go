package sluice

import (
	"slices"
	"strings"
)

// What a tenant restricts as personal data (RestrictedData) is withheld
// from destinations without a PersonalDataGrant: the policy's paths, and
// the paths where an event carries the values of a restricted subject
// type. The rules of paths, shared by the delivery, the schema drift alert
// and the data map, are here.

// HasSubjectType reports whether the policy restricts the subject type t,
// whatever its case.
func (r RestrictedData) HasSubjectType(t string) bool {
	return slices.ContainsFunc(r.SubjectTypes, func(s string) bool { return strings.EqualFold(s, t) })
}

// PathsOf returns the paths withheld from an event whose subjects are at
// located: the policy's paths, then the located paths of a restricted
// subject type, each once.
func (r RestrictedData) PathsOf(located []SubjectPath) []string {
	out := slices.Clone(r.Paths)
	for _, l := range located {
		if r.HasSubjectType(l.Type) && !slices.Contains(out, l.Path) {
			out = append(out, l.Path)
		}
	}
	return out
}

// PathSegments splits a dot path into the member names it steps through:
// a segment's "[]" suffix, as schema paths write an array's elements
// ("items[].email"), is dropped, since a path steps through arrays anyway.
func PathSegments(path string) []string {
	segs := strings.Split(path, ".")
	for i, s := range segs {
		segs[i] = strings.TrimSuffix(s, "[]")
	}
	return segs
}

// PathCovers reports whether the field at path lies at or inside the
// restricted path: their segments (PathSegments) match one by one, a "*"
// of restricted matching any, and restricted is no longer. Segments of
// digits only (array indexes, as source subject paths may have them) are
// left out of both, since observed paths step through arrays without one.
func PathCovers(restricted, path string) bool {
	r, p := withoutIndexes(PathSegments(restricted)), withoutIndexes(PathSegments(path))
	if len(r) == 0 || len(r) > len(p) {
		return false
	}
	for i, s := range r {
		if s != "*" && s != p[i] {
			return false
		}
	}
	return true
}

func withoutIndexes(segs []string) []string {
	return slices.DeleteFunc(segs, func(s string) bool {
		return s != "" && strings.Trim(s, "0123456789") == ""
	})
}

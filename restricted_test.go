package sluice

import (
	"slices"
	"testing"
)

func TestRestrictedPathsOf(t *testing.T) {
	r := RestrictedData{Paths: []string{"customer.name"}, SubjectTypes: []string{"Email"}}
	got := r.PathsOf([]SubjectPath{{Path: "customer.email", Type: "email"}, {Path: "account", Type: "customer_id"},
		{Path: "customer.name", Type: "email"}})
	if want := []string{"customer.name", "customer.email"}; !slices.Equal(got, want) {
		t.Errorf("PathsOf = %q, want %q", got, want)
	}
	if r.HasSubjectType("phone") || !r.HasSubjectType("EMAIL") {
		t.Error("HasSubjectType is wrong")
	}
}

func TestPathCovers(t *testing.T) {
	for _, c := range []struct {
		restricted, path string
		want             bool
	}{
		{"customer.email", "customer.email", true},
		{"customer", "customer.email", true},
		{"customer.email", "customer", false},
		{"items.email", "items[].email", true},
		{"items[].email", "items[].email", true},
		{"items.0.email", "items[].email", true},
		{"by_email.*", "by_email.*.plan", true},
		{"*.email", "billing.email", true},
		{"customer.email", "customer.emails", false},
		{"customer.email", "other.email", false},
	} {
		if got := PathCovers(c.restricted, c.path); got != c.want {
			t.Errorf("PathCovers(%q, %q) = %v, want %v", c.restricted, c.path, got, c.want)
		}
	}
}

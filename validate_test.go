package sluice_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// errText is how a test compares an error: its code and message, or "" for
// none.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return sluice.ErrorCode(err) + ": " + sluice.ErrorMessage(err)
}

func TestDestinationValidate(t *testing.T) {
	t.Parallel()
	valid := func() sluice.Destination {
		return sluice.Destination{Name: "billing", EventTypes: []string{"invoice.*", "customer.created"},
			SourceIDs: []string{"src_01J0000000000000000000000"}, Fields: []string{"id", "data.amount"}, RateLimitPerSecond: 50}
	}
	many := func(n int, s string) []string { return strings.Split(strings.Repeat(s+",", n-1)+s, ",") }
	tests := []struct {
		name   string
		change func(d *sluice.Destination)
		want   string
	}{
		{"valid", func(*sluice.Destination) {}, ""},
		{"every type, whole payload, no limit", func(d *sluice.Destination) {
			d.Name, d.EventTypes, d.SourceIDs, d.Fields, d.RateLimitPerSecond = "", []string{"*"}, nil, nil, 0
		}, ""},
		{"name at the limit", func(d *sluice.Destination) { d.Name = strings.Repeat("n", 200) }, ""},
		{"name too long", func(d *sluice.Destination) { d.Name = strings.Repeat("n", 201) },
			"invalid: name: at most 200 bytes"},
		{"no event types", func(d *sluice.Destination) { d.EventTypes = nil },
			`invalid: event_types: list at least one pattern ("*" for every type)`},
		{"too many event types", func(d *sluice.Destination) { d.EventTypes = many(101, "a") },
			"invalid: event_types: at most 100 patterns"},
		{"100 event types", func(d *sluice.Destination) { d.EventTypes = many(100, "a") }, ""},
		{"event type with a space", func(d *sluice.Destination) { d.EventTypes = []string{"invoice paid"} },
			`invalid: event_types: each must be "*", "prefix.*" or an event type, without spaces, up to 255 bytes`},
		{"wildcard inside", func(d *sluice.Destination) { d.EventTypes = []string{"a*.b"} },
			`invalid: event_types: each must be "*", "prefix.*" or an event type, without spaces, up to 255 bytes`},
		{"too many source ids", func(d *sluice.Destination) { d.SourceIDs = many(101, "src_1") },
			"invalid: source_ids: at most 100 ids"},
		{"not a source id", func(d *sluice.Destination) { d.SourceIDs = []string{"dst_1"} },
			"invalid: source_ids: each must be a source id (src_…)"},
		{"source id too long", func(d *sluice.Destination) { d.SourceIDs = []string{"src_" + strings.Repeat("1", 61)} },
			"invalid: source_ids: each must be a source id (src_…)"},
		{"empty allowlist", func(d *sluice.Destination) { d.Fields = []string{} },
			"invalid: fields: list at least one field path, or null for the whole payload"},
		{"too many fields", func(d *sluice.Destination) { d.Fields = many(101, "id") },
			"invalid: fields: at most 100 paths"},
		{"empty segment", func(d *sluice.Destination) { d.Fields = []string{"data..amount"} },
			"invalid: fields: each must be a dot path such as data.amount, without spaces"},
		{"space in a field", func(d *sluice.Destination) { d.Fields = []string{"data.the amount"} },
			"invalid: fields: each must be a dot path such as data.amount, without spaces"},
		{"field too long", func(d *sluice.Destination) { d.Fields = []string{strings.Repeat("f", 257)} },
			"invalid: fields: each must be a dot path such as data.amount, without spaces"},
		{"negative rate", func(d *sluice.Destination) { d.RateLimitPerSecond = -1 },
			"invalid: rate_limit_per_second: must be 0 (unlimited) to 1000000"},
		{"rate too high", func(d *sluice.Destination) { d.RateLimitPerSecond = 1_000_001 },
			"invalid: rate_limit_per_second: must be 0 (unlimited) to 1000000"},
		{"rate at the limit", func(d *sluice.Destination) { d.RateLimitPerSecond = 1_000_000 }, ""},
		// Several wrong: the first in the API's order is named.
		{"fields before name", func(d *sluice.Destination) { d.Name, d.Fields = strings.Repeat("n", 201), []string{} },
			"invalid: fields: list at least one field path, or null for the whole payload"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := valid()
			tt.change(&d)
			if got := errText(d.Validate()); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDestinationSetEnabled(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		enabled    bool
		reason     string
		set        bool
		wantReason string
	}{
		{"switch off", true, "", false, sluice.DisabledManual},
		{"switch on", false, sluice.DisabledFailing, true, ""},
		{"off again keeps the reason", false, sluice.DisabledGone, false, sluice.DisabledGone},
		{"on again", true, "", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := sluice.Destination{Enabled: tt.enabled, DisabledReason: tt.reason}
			d.SetEnabled(tt.set)
			if d.Enabled != tt.set || d.DisabledReason != tt.wantReason {
				t.Errorf("got enabled %v reason %q, want %v %q", d.Enabled, d.DisabledReason, tt.set, tt.wantReason)
			}
		})
	}
}

func TestSourceValidate(t *testing.T) {
	t.Parallel()
	valid := func() sluice.Source {
		return sluice.Source{Name: "stripe-live", Verification: sluice.Verification{Type: sluice.VerifyNone},
			EventTypePath: "type", EventIDPath: "id", SubjectPaths: []sluice.SubjectPath{{Path: "data.email", Type: "email"}},
			AllowedIPs: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}, RateLimitPerSecond: 100,
			PayloadRetention: 168 * time.Hour}
	}
	tests := []struct {
		name   string
		change func(s *sluice.Source)
		want   string
	}{
		{"valid", func(*sluice.Source) {}, ""},
		{"defaults", func(s *sluice.Source) {
			s.Name, s.SubjectPaths, s.AllowedIPs, s.RateLimitPerSecond, s.PayloadRetention = "", nil, nil, 0, 0
		}, ""},
		{"name too long", func(s *sluice.Source) { s.Name = strings.Repeat("n", 201) },
			"invalid: name: at most 200 bytes"},
		{"too many subject paths", func(s *sluice.Source) { s.SubjectPaths = make([]sluice.SubjectPath, 51) },
			"invalid: subject_paths: at most 50"},
		{"50 subject paths", func(s *sluice.Source) { s.SubjectPaths = make([]sluice.SubjectPath, 50) }, ""},
		{"too many allowed ranges", func(s *sluice.Source) { s.AllowedIPs = make([]netip.Prefix, 101) },
			"invalid: allowed_ips: at most 100"},
		{"negative rate", func(s *sluice.Source) { s.RateLimitPerSecond = -5 },
			"invalid: rate_limit_per_second: must be 0 (unlimited) to 1000000"},
		{"rate too high", func(s *sluice.Source) { s.RateLimitPerSecond = 1_000_001 },
			"invalid: rate_limit_per_second: must be 0 (unlimited) to 1000000"},
		{"negative retention", func(s *sluice.Source) { s.PayloadRetention = -time.Hour },
			`invalid: payload_retention: must be a positive duration such as "168h"`},
		{"retention of ten years", func(s *sluice.Source) { s.PayloadRetention = 10 * 8760 * time.Hour }, ""},
		{"retention over ten years", func(s *sluice.Source) { s.PayloadRetention = 10*8760*time.Hour + 1 },
			`invalid: payload_retention: must be a positive duration such as "168h"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := valid()
			tt.change(&s)
			if got := errText(s.Validate()); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestValidateEventType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		typ  string
		want string
	}{
		{"invoice.paid", ""},
		{"unknown", ""},
		{"Ünïcode.type", ""},
		{strings.Repeat("t", 255), ""},
		{"", "invalid: type: required"},
		{strings.Repeat("t", 256), "invalid: type: at most 255 bytes"},
		{"invoice paid", "invalid: type: must not contain spaces, control characters or *"},
		{"invoice\x00paid", "invalid: type: must not contain spaces, control characters or *"},
		{"invoice.*", "invalid: type: must not contain spaces, control characters or *"},
		{"sluice.delivery.exhausted", `invalid: type: the "sluice." prefix is reserved for Sluice's own events`},
		{"sluicey", ""},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			t.Parallel()
			if got := errText(sluice.ValidateEventType(tt.typ)); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRequireAdmin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		role sluice.Role
		want string
	}{
		{sluice.RoleAdmin, ""},
		{sluice.RoleViewer, "forbidden: this needs an admin key; a viewer key reads metadata only"},
		{"", "forbidden: this needs an admin key; a viewer key reads metadata only"},
	}
	for _, tt := range tests {
		t.Run(string(tt.role), func(t *testing.T) {
			t.Parallel()
			k := &sluice.APIKey{Role: tt.role}
			if got := errText(k.RequireAdmin()); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

package sluice_test

import (
	"net/http"
	"testing"

	"github.com/sluicehq/sluice"
)

func TestHopsOf(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  int
		ok    bool
	}{
		{"", 0, true},
		{"0", 0, true},
		{"3", 3, true},
		{"1048576", 1 << 20, true},
		{"1048577", 0, false},
		{"-1", 0, false},
		{"+2", 0, false},
		{"2.0", 0, false},
		{"two", 0, false},
		{"99999999999999999999", 0, false},
	} {
		h := http.Header{}
		if tc.value != "" {
			h.Set(sluice.HeaderHops, tc.value)
		}
		got, err := sluice.HopsOf(h)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("HopsOf(%q) = %d, %v; want %d, ok %v", tc.value, got, err, tc.want, tc.ok)
		}
		if err != nil && sluice.ErrorCode(err) != sluice.EINVALID {
			t.Errorf("HopsOf(%q): code %q, want %q", tc.value, sluice.ErrorCode(err), sluice.EINVALID)
		}
	}
}

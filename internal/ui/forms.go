package ui

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice"
)

// form is a form as submitted, or as it starts from what is stored, with
// the reason a change was refused beside the field the API's message
// names ("url: …"). A message that names no field of the form is Other.
type form struct {
	Values url.Values
	Errors map[string]string
	Other  string
	// secrets are the write-only fields submitted, never shown back.
	secrets map[string]string
}

// Value is the field's value as submitted.
func (f *form) Value(name string) string {
	if f == nil {
		return ""
	}
	return f.Values.Get(name)
}

// Err is the message refusing the field, if any.
func (f *form) Err(name string) string {
	if f == nil {
		return ""
	}
	return f.Errors[name]
}

// Is reports whether the field has the value, for a select's option.
func (f *form) Is(name, value string) bool { return f.Value(name) == value }

// fieldOf is the field an API message names: the text before its first
// ": ", without an index ("subject_paths[1]" is subject_paths).
var fieldOf = regexp.MustCompile(`^([a-z_]+(?:\.[a-z_]+)?)(?:\[\d+\])?: `)

// refuse sets err's message on f beside the field it names, where fields
// (API name → form input) has it, else as Other. The message is the
// API's in the dashboard's words.
func (f *form) refuse(err error, fields map[string]string) {
	msg := dashboardWording(sluice.ErrorMessage(err))
	f.Errors = map[string]string{}
	if m := fieldOf.FindStringSubmatch(msg); m != nil {
		if input, ok := fields[m[1]]; ok {
			f.Errors[input] = msg
			return
		}
	}
	f.Other = msg
}

// flagWording replaces the server flags some API messages name, which
// mean nothing in the dashboard, with what they are.
var flagWording = strings.NewReplacer(
	"http only with --allow-private-destinations or a host in --allowed-destination-cidrs",
	"http only where the gateway allows private destinations, or for a host in a range it allows",
	"allow its range with --allowed-destination-cidrs",
	"the gateway's operator can allow its range in the gateway's settings",
)

// anyFlag is any command-line flag a message may still name.
var anyFlag = regexp.MustCompile(`--[a-z][a-z0-9-]*`)

// dashboardWording is an API message as the dashboard shows it: with no
// command-line flag named.
func dashboardWording(msg string) string {
	return anyFlag.ReplaceAllString(flagWording.Replace(msg), "a gateway setting")
}

// refusedStatus is the status of a page refusing a change: as the API's
// for the error codes a form meets.
func refusedStatus(err error) int {
	switch sluice.ErrorCode(err) {
	case sluice.EFORBIDDEN:
		return http.StatusForbidden
	case sluice.ECONFLICT:
		return http.StatusConflict
	case sluice.ENOTFOUND:
		return http.StatusNotFound
	}
	return http.StatusBadRequest
}

// refusable reports whether err is one a form shows back, rather than a
// failure of the store.
func refusable(err error) bool {
	switch sluice.ErrorCode(err) {
	case sluice.EINVALID, sluice.EFORBIDDEN, sluice.ECONFLICT, sluice.ENOTFOUND, sluice.ETOOLARGE:
		return true
	}
	return false
}

// number is a numeric form field as JSON: as given when it reads as an
// integer, so the API's rules judge it, else as a string, which the API
// refuses with its own message. Empty is nil.
func number(s string) any {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	if _, err := strconv.Atoi(s); err == nil {
		return json.RawMessage(s)
	}
	return s
}

// list is a comma-separated form field as a JSON list, never null.
func list(s string) []string {
	out := splitList(s)
	if out == nil {
		out = []string{}
	}
	return out
}

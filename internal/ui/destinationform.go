package ui

import (
	"encoding/json"
	"maps"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

// The destination form, one template for the create form (its settings
// beyond name, URL, event types and fields folded under "More settings")
// and the edit form, read as the JSON body of POST or PATCH
// /v1/destinations. It shows what GET /v1/destinations/{id} shows: header
// values and the auth's type and user name, never the password, the token
// or the client certificate. Those are write-only: left empty on an edit
// they keep the stored ones, and a checkbox removes the auth, the client
// certificate or a header.

// destinationForm is what the form's template gets.
type destinationForm struct {
	Form *form
	// Destination is the destination edited, as stored; nil on creation.
	Destination *sluice.Destination
}

// Editing reports whether the form changes a stored destination.
func (v destinationForm) Editing() bool { return v.Destination != nil }

// HasURL reports whether the form asks for a URL: a listen destination
// has none.
func (v destinationForm) HasURL() bool { return v.Destination == nil || !v.Destination.Listening() }

// Exposable reports whether the form offers headers, auth and a client
// certificate, which a listen destination's deliveries never carry.
func (v destinationForm) Exposable() bool { return v.HasURL() }

// HasAuth reports whether the destination edited has auth to keep or
// remove.
func (v destinationForm) HasAuth() bool { return v.Destination != nil && v.Destination.Auth.Type != "" }

// HasCertificate reports whether the destination edited presents a client
// certificate.
func (v destinationForm) HasCertificate() bool {
	return v.Destination != nil && v.Destination.ClientCert.CertPEM != ""
}

// basicFields are the create form's inputs outside "More settings".
var basicFields = []string{"name", "url", "event_types", "fields"}

// MoreOpen reports whether the create form's "More settings" start open:
// when a setting there was filled in or refused.
func (v destinationForm) MoreOpen() bool {
	f := v.Form
	for k := range f.Errors {
		if !slices.Contains(basicFields, k) {
			return true
		}
	}
	if f.Other != "" {
		return true
	}
	for k, vs := range f.Values {
		filled := strings.TrimSpace(strings.Join(vs, "")) != ""
		if filled && !slices.Contains(basicFields, k) && !(k == "delivery" && f.Is(k, sluice.DeliveryFull)) {
			return true
		}
	}
	return false
}

// headerRow is a row of the form's headers: a name, its value, and
// whether it is to be removed. Index is its place among the rows, the
// value of its remove checkbox.
type headerRow struct {
	Index       int
	Name, Value string
	Remove      bool
}

// Headers are the rows the form shows: the headers given, then an empty
// one to add a header.
func (v destinationForm) Headers() []headerRow {
	var rows []headerRow
	for _, r := range headerRows(v.Form) {
		if strings.TrimSpace(r.Name) == "" && strings.TrimSpace(r.Value) == "" {
			continue
		}
		r.Index = len(rows)
		rows = append(rows, r)
	}
	return append(rows, headerRow{Index: len(rows)})
}

// headerRows reads the form's header rows: header_name and header_value
// given once a row, in order, and header_remove naming the rows removed.
func headerRows(f *form) []headerRow {
	names, values, removed := f.Values["header_name"], f.Values["header_value"], f.Values["header_remove"]
	rows := make([]headerRow, len(names))
	for i, name := range names {
		rows[i] = headerRow{Index: i, Name: name, Remove: slices.Contains(removed, strconv.Itoa(i))}
		if i < len(values) {
			rows[i].Value = values[i]
		}
	}
	return rows
}

// headersOf is the form's headers as the body's "headers", rows removed
// or left empty left out. A name given twice alike is refused here, as a
// JSON object cannot carry it for the API to refuse, in the API's words.
func headersOf(f *form) (map[string]string, error) {
	out := map[string]string{}
	for _, r := range headerRows(f) {
		name, value := strings.TrimSpace(r.Name), strings.TrimSpace(r.Value)
		if r.Remove || (name == "" && value == "") {
			continue
		}
		if _, twice := out[name]; twice {
			return nil, sluice.Errorf(sluice.EINVALID, "headers: %s is given twice", textproto.CanonicalMIMEHeaderKey(name))
		}
		out[name] = value
	}
	return out, nil
}

// null is JSON's null, which clears auth and a client certificate.
var null = json.RawMessage("null")

// authOf is the form's auth as the body's "auth", nil to leave it as it
// is. A password or token left empty keeps current's of the same type;
// the type "none", or the remove checkbox, removes the auth.
func authOf(f *form, current *sluice.Destination) any {
	var was sluice.DestinationAuth
	if current != nil {
		was = current.Auth
	}
	typ := strings.TrimSpace(f.Values.Get("auth.type"))
	if f.Values.Get("auth.clear") != "" || typ == "" {
		if was.Type != "" {
			return null
		}
		return nil
	}
	user := strings.TrimSpace(f.Values.Get("auth.username"))
	password, token := f.secrets["auth.password"], f.secrets["auth.token"]
	if typ == was.Type {
		if password == "" {
			password = was.Password
		}
		if token == "" {
			token = was.Token
		}
		if user == was.Username && password == was.Password && token == was.Token {
			return nil
		}
	}
	switch typ {
	case sluice.AuthBasic:
		return map[string]string{"type": typ, "username": user, "password": password}
	case sluice.AuthBearer:
		return map[string]string{"type": typ, "token": token}
	}
	return map[string]string{"type": typ} // refused by the API, in its words
}

// certificateOf is the form's client certificate as the body's
// "client_certificate", nil to leave it as it is. A part left empty keeps
// current's: a renewed certificate for the same key needs no key again.
// The remove checkbox removes it.
func certificateOf(f *form, current *sluice.Destination) any {
	var was sluice.ClientCertificate
	if current != nil {
		was = current.ClientCert
	}
	if f.Values.Get("client_certificate.clear") != "" {
		if was.CertPEM != "" {
			return null
		}
		return nil
	}
	cert, key := f.secrets["client_certificate.cert_pem"], f.secrets["client_certificate.key_pem"]
	blank := func(s string) bool { return strings.TrimSpace(s) == "" }
	if blank(cert) && blank(key) {
		return nil
	}
	if blank(cert) {
		cert = was.CertPEM
	}
	if blank(key) {
		key = was.KeyPEM
	}
	return map[string]string{"cert_pem": cert, "key_pem": key}
}

// destinationBody is the form as the body of POST /v1/destinations, or of
// PATCH for current. Left empty, the event types are every one on creation
// and unchanged on a change, and the field allowlist is the whole payload.
// Full delivery, the default, is not given unless it changes. On a change
// the headers are the form's, all of them; auth and the client
// certificate change only as authOf and certificateOf say.
func destinationBody(f *form, current *sluice.Destination) ([]byte, error) {
	create := current == nil
	get := func(k string) string { return strings.TrimSpace(f.Values.Get(k)) }
	body := map[string]any{"name": f.Values.Get("name")}
	if _, ok := f.Values["url"]; ok || create { // a listen destination's form has none
		body["url"] = get("url")
	}
	if types := splitList(f.Values.Get("event_types")); len(types) > 0 {
		body["event_types"] = types
	}
	if fields := splitList(f.Values.Get("fields")); len(fields) > 0 {
		body["fields"] = fields
	} else if !create {
		body["fields"] = nil
	}
	if c := get("customer"); c != "" || !create {
		body["customer"] = c
	}
	if ids := splitList(f.Values.Get("source_ids")); len(ids) > 0 || !create {
		body["source_ids"] = list(f.Values.Get("source_ids"))
	}
	if n := number(f.Values.Get("rate_limit_per_second")); n != nil {
		body["rate_limit_per_second"] = n
	} else if !create {
		body["rate_limit_per_second"] = 0
	}
	if d := get("delivery"); d != "" && (d != sluice.DeliveryFull || (!create && current.Delivery != "")) {
		body["delivery"] = d
	}
	if n := number(f.Values.Get("fetch_ttl_seconds")); n != nil {
		body["fetch_ttl_seconds"] = n
	}
	if p := splitList(f.Values.Get("pseudonymize")); len(p) > 0 || !create {
		body["pseudonymize"] = list(f.Values.Get("pseudonymize"))
	}
	for _, k := range []string{"purpose", "lawful_basis", "owner", "region"} {
		if v := get(k); v != "" || !create {
			body[k] = v
		}
	}
	if create || !current.Listening() {
		headers, err := headersOf(f)
		if err != nil {
			return nil, err
		}
		if len(headers) > 0 || !create {
			body["headers"] = headers
		}
		if a := authOf(f, current); a != nil {
			body["auth"] = a
		}
		if c := certificateOf(f, current); c != nil {
			body["client_certificate"] = c
		}
	}
	out, _ := json.Marshal(body) // strings, lists, maps and numbers
	return out, nil
}

// destinationValues is a stored destination as its form starts: its
// headers by name, its auth's type and user name, and nothing of its
// credentials or client certificate.
func destinationValues(d *sluice.Destination) url.Values {
	out := url.Values{
		"name": {d.Name}, "customer": {d.Customer}, "url": {d.URL}, "event_types": {strings.Join(d.EventTypes, ", ")},
		"source_ids": {strings.Join(d.SourceIDs, ", ")}, "fields": {strings.Join(d.Fields, ", ")},
		"delivery": {d.Delivery}, "pseudonymize": {strings.Join(d.Pseudonymize, ", ")},
		"purpose": {d.Processing.Purpose}, "lawful_basis": {d.Processing.LawfulBasis},
		"owner": {d.Processing.Owner}, "region": {d.Processing.Region},
		"auth.type": {d.Auth.Type}, "auth.username": {d.Auth.Username},
	}
	if out.Get("delivery") == "" {
		out.Set("delivery", sluice.DeliveryFull)
	}
	if d.RateLimitPerSecond > 0 {
		out.Set("rate_limit_per_second", strconv.Itoa(d.RateLimitPerSecond))
	}
	if d.FetchTTL > 0 {
		out.Set("fetch_ttl_seconds", strconv.Itoa(int(d.FetchTTL/time.Second)))
	}
	for _, name := range slices.Sorted(maps.Keys(d.Headers)) {
		out.Add("header_name", name)
		out.Add("header_value", d.Headers[name])
	}
	return out
}

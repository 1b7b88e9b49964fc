package sluice

import (
	"net/textproto"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// What a destination is sent, and how much it may see, beyond its field
// allowlist: the controls of data protection by design (GDPR Art. 25) and
// the records of processing (Art. 30) that say who receives what and why.

// Delivery modes of a destination.
const (
	// DeliveryFull sends the payload (after the allowlist and the other
	// controls) in the delivery itself.
	DeliveryFull = "full"
	// DeliveryThin sends only the event's id, type, time and a short-lived
	// URL the receiver fetches the payload from.
	DeliveryThin = "thin"
)

// Bounds of a thin destination's fetch URL lifetime.
const (
	DefaultFetchTTL = 15 * time.Minute
	minFetchTTL     = time.Second
	maxFetchTTL     = 24 * time.Hour
)

// LawfulBases are the lawful bases of GDPR Art. 6(1), as Sluice spells them.
var LawfulBases = []string{"consent", "contract", "legal_obligation", "vital_interests", "public_task",
	"legitimate_interests"}

// Processing is what the records of processing say of a flow in or out:
// why its data is processed, on what lawful basis, who answers for it, and
// where it goes. Every field is optional.
type Processing struct {
	Purpose     string
	LawfulBasis string // one of LawfulBases, or empty
	Owner       string // a contact: who answers for the flow
	Region      string // where the recipient keeps the data, such as "eu"
}

// PersonalDataGrant is a destination's declaration that it may receive the
// fields and subject types its tenant restricts as personal data (see
// RestrictedData), for a purpose on a lawful basis. A destination without
// one gets them removed.
type PersonalDataGrant struct {
	Allowed     bool
	Purpose     string
	LawfulBasis string
}

// RestrictedData is a tenant's policy of what is personal data: field
// paths, and subject types whose values (wherever a source's subject paths
// find them) are withheld from destinations without a PersonalDataGrant.
type RestrictedData struct {
	Paths        []string
	SubjectTypes []string
}

// Empty reports whether the policy restricts nothing.
func (r RestrictedData) Empty() bool { return len(r.Paths) == 0 && len(r.SubjectTypes) == 0 }

// Destination authentication types.
const (
	AuthBasic  = "basic"
	AuthBearer = "bearer"
)

// DestinationAuth is the credential a destination's receiver asks for, sent
// in the Authorization header of every delivery; sealed at rest like the
// signing secret. The zero value sends none.
type DestinationAuth struct {
	Type     string // "", AuthBasic or AuthBearer
	Username string // AuthBasic
	Password string // AuthBasic
	Token    string // AuthBearer
}

// ClientCertificate is the certificate and private key, PEM encoded, a
// destination's deliveries present for mutual TLS; sealed at rest. The
// zero value presents none.
type ClientCertificate struct {
	CertPEM string
	KeyPEM  string
}

// Limits on the exposure controls.
const (
	maxProcessingText = 500
	maxHeaders        = 20
	maxHeaderValue    = 4096
	maxCredential     = 4096
	maxRestricted     = 100
	maxCertPEM        = 64 << 10
)

// Thin reports whether the destination is sent thin events.
func (d *Destination) Thin() bool { return d.Delivery == DeliveryThin }

// FetchLifetime is how long a thin delivery's fetch URL works.
func (d *Destination) FetchLifetime() time.Duration {
	if d.FetchTTL == 0 {
		return DefaultFetchTTL
	}
	return d.FetchTTL
}

// validateExposure checks the destination's exposure controls: EINVALID
// naming the first field that is wrong.
func (d *Destination) validateExposure() error {
	switch d.Delivery {
	case "", DeliveryFull, DeliveryThin:
	default:
		return Errorf(EINVALID, `delivery: must be "full" or "thin"`)
	}
	if t := d.FetchTTL; t != 0 && (t < minFetchTTL || t > maxFetchTTL || t%time.Second != 0) {
		return Errorf(EINVALID, "fetch_ttl_seconds: must be 1 to %d", int(maxFetchTTL/time.Second))
	}
	if err := checkPaths("pseudonymize", d.Pseudonymize); err != nil {
		return err
	}
	if err := d.PersonalData.validate(); err != nil {
		return err
	}
	if err := d.Processing.validate(); err != nil {
		return err
	}
	if d.Listening() && (len(d.Headers) > 0 || d.Auth.Type != "" || d.ClientCert.CertPEM != "") {
		return Errorf(EINVALID, "headers, auth, client_certificate: a listen destination's deliveries go to its sluice listen, which is never handed them")
	}
	if err := checkHeaders(d.Headers, d.Auth.Type != ""); err != nil {
		return err
	}
	if err := d.Auth.validate(); err != nil {
		return err
	}
	return d.ClientCert.validate()
}

func (g PersonalDataGrant) validate() error {
	if err := checkText("personal_data.purpose", g.Purpose); err != nil {
		return err
	}
	if err := checkLawfulBasis("personal_data.lawful_basis", g.LawfulBasis); err != nil {
		return err
	}
	if g.Allowed && (strings.TrimSpace(g.Purpose) == "" || g.LawfulBasis == "") {
		return Errorf(EINVALID, "personal_data: allowed needs a purpose and a lawful_basis")
	}
	return nil
}

// validate checks the fields' lengths and the lawful basis: EINVALID naming
// the first field that is wrong, as the API calls it.
func (p Processing) validate() error {
	for _, f := range []struct{ name, v string }{{"purpose", p.Purpose}, {"owner", p.Owner}, {"region", p.Region}} {
		if err := checkText(f.name, f.v); err != nil {
			return err
		}
	}
	return checkLawfulBasis("lawful_basis", p.LawfulBasis)
}

// Validate checks the policy's paths and subject types: EINVALID naming the
// first that is wrong.
func (r RestrictedData) Validate() error {
	if err := checkPaths("restricted_data.paths", r.Paths); err != nil {
		return err
	}
	if len(r.SubjectTypes) > maxRestricted {
		return Errorf(EINVALID, "restricted_data.subject_types: at most %d", maxRestricted)
	}
	for i, t := range r.SubjectTypes {
		if t == "" || len(t) > 64 || strings.ContainsFunc(t, func(c rune) bool { return c <= ' ' }) {
			return Errorf(EINVALID, "restricted_data.subject_types[%d]: must be a subject type such as email", i)
		}
	}
	return nil
}

func checkText(field, v string) error {
	if len(v) > maxProcessingText || !utf8.ValidString(v) || strings.ContainsAny(v, "\x00\r\n") {
		return Errorf(EINVALID, "%s: at most %d bytes of text on one line", field, maxProcessingText)
	}
	return nil
}

func checkLawfulBasis(field, v string) error {
	if v != "" && !slices.Contains(LawfulBases, v) {
		return Errorf(EINVALID, "%s: must be one of %s", field, strings.Join(LawfulBases, ", "))
	}
	return nil
}

// checkPaths accepts up to maxFields dot paths (see validPath).
func checkPaths(field string, paths []string) error {
	if len(paths) > maxFields {
		return Errorf(EINVALID, "%s: at most %d paths", field, maxFields)
	}
	for i, p := range paths {
		if !validPath(p) {
			return Errorf(EINVALID, "%s[%d]: must be a dot path such as customer.email, without spaces", field, i)
		}
	}
	return nil
}

// reservedHeaders are set by Sluice, or by the HTTP client on the way
// out, on every delivery, or are connection-specific (HTTP/2 refuses a
// request carrying one): a destination's own headers may not replace them.
// Cookie is not among them: Sluice sends none, and a receiver behind a
// gateway may want one.
var reservedHeaders = []string{"Content-Type", "Content-Length", "Content-Encoding", "Transfer-Encoding", "Host",
	"Connection", "User-Agent", "Te", "Trailer", "Upgrade", "Proxy-Authorization", "Proxy-Connection", "Expect",
	"Keep-Alive", "Http2-Settings"}

// HeaderSetBySluice reports whether a header of the name is Sluice's own
// on a delivery: the signature's webhook-*, Sluice-*, or one the HTTP
// client sets or refuses. A destination's static headers never include one.
func HeaderSetBySluice(name string) bool {
	canon := textproto.CanonicalMIMEHeaderKey(name)
	return slices.Contains(reservedHeaders, canon) || strings.HasPrefix(canon, "Webhook-") ||
		strings.HasPrefix(canon, "Sluice-")
}

// checkHeaders accepts up to maxHeaders static headers with token names,
// each name once whatever its case, and one-line values without control
// characters, none that Sluice sets itself (HeaderSetBySluice), and no
// Authorization when the destination has auth.
func checkHeaders(h map[string]string, hasAuth bool) error {
	if len(h) > maxHeaders {
		return Errorf(EINVALID, "headers: at most %d", maxHeaders)
	}
	seen := make(map[string]bool, len(h))
	for name, v := range h {
		canon := textproto.CanonicalMIMEHeaderKey(name)
		switch {
		case !validHeaderName(name):
			return Errorf(EINVALID, "headers: %q is not a header name", name)
		case HeaderSetBySluice(canon):
			return Errorf(EINVALID, "headers: %s is set by Sluice", canon)
		case canon == "Authorization" && hasAuth:
			return Errorf(EINVALID, "headers: Authorization comes from auth on this destination")
		case seen[canon]:
			return Errorf(EINVALID, "headers: %s is given twice", canon)
		case len(v) > maxHeaderValue || !utf8.ValidString(v) || strings.ContainsFunc(v, isControl):
			return Errorf(EINVALID, "headers: the value of %s must be one line of at most %d bytes, without control characters", canon, maxHeaderValue)
		}
		seen[canon] = true
	}
	return nil
}

// isControl reports whether r may not appear in a header value: a control
// character other than the horizontal tab.
func isControl(r rune) bool { return r != '\t' && (r < ' ' || r == 0x7f) }

func validHeaderName(name string) bool {
	if name == "" || len(name) > 256 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

func (a DestinationAuth) validate() error {
	oneLine := func(field, v string) error {
		if len(v) > maxCredential || strings.ContainsAny(v, "\x00\r\n") {
			return Errorf(EINVALID, "%s: one line of at most %d bytes", field, maxCredential)
		}
		return nil
	}
	switch a.Type {
	case "":
		return nil
	case AuthBasic:
		if a.Username == "" || strings.Contains(a.Username, ":") {
			return Errorf(EINVALID, "auth.username: required for basic, without a colon")
		}
		if err := oneLine("auth.username", a.Username); err != nil {
			return err
		}
		return oneLine("auth.password", a.Password)
	case AuthBearer:
		if a.Token == "" || strings.ContainsFunc(a.Token, func(r rune) bool { return r == ' ' || r == '\t' || isControl(r) }) {
			return Errorf(EINVALID, "auth.token: required for bearer, without spaces or control characters")
		}
		return oneLine("auth.token", a.Token)
	default:
		return Errorf(EINVALID, `auth.type: must be "basic" or "bearer"`)
	}
}

// validate checks only what the domain can: both parts or neither, and
// their size. Whether they are a matching PEM pair is for crypto/tls, which
// the API asks before it stores one.
func (c ClientCertificate) validate() error {
	if (c.CertPEM == "") != (c.KeyPEM == "") {
		return Errorf(EINVALID, "client_certificate: needs both cert_pem and key_pem")
	}
	if len(c.CertPEM) > maxCertPEM || len(c.KeyPEM) > maxCertPEM {
		return Errorf(EINVALID, "client_certificate: at most %d bytes each", maxCertPEM)
	}
	return nil
}

// validPath reports whether p is a dot path of non-empty member names
// without white space, as field allowlists use.
func validPath(p string) bool {
	return p != "" && len(p) <= maxFieldPathLen && !slices.Contains(strings.Split(p, "."), "") &&
		!strings.ContainsFunc(p, unicode.IsSpace)
}

package inbound

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/http"

	"github.com/sluicehq/sluice/internal/urlform"
)

// FormPathPrefix starts a path that names a field of a form body instead
// of a place in a JSON body: "form:email", "form:customer[email]". The name
// is the field's name as decoded, matched exactly.
const FormPathPrefix = "form:"

// formFields returns the fields of the body read as a form, the first
// value of each name: multipart/form-data when the content type says so
// (files left out), application/x-www-form-urlencoded otherwise, whatever
// the content type, since a form: path says what the body is.
func formFields(h http.Header, body []byte) map[string]string {
	fields := map[string]string{}
	if boundary, ok := multipartBoundary(h); ok {
		readMultipart(fields, body, boundary)
		return fields
	}
	var name []byte
	for n, v := range urlform.Fields(body) {
		name = urlform.Unescape(name[:0], n, true)
		if _, seen := fields[string(name)]; !seen {
			fields[string(name)] = string(urlform.Unescape(nil, v, true))
		}
	}
	return fields
}

// multipartBoundary returns the boundary of a multipart/form-data body.
func multipartBoundary(h http.Header) (string, bool) {
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return "", false
	}
	return params["boundary"], true
}

// readMultipart adds the fields of a multipart body that are not files, up
// to the first part it cannot read: a malformed body yields what came
// before the damage. The body is in memory already, so reading a part
// costs no more than its size.
func readMultipart(fields map[string]string, body []byte, boundary string) {
	r := multipart.NewReader(bytes.NewReader(body), boundary)
	for {
		part, err := r.NextRawPart() // no quoted-printable decoding: the body as sent
		if err != nil {
			return
		}
		name := part.FormName()
		if name == "" || part.FileName() != "" {
			continue
		}
		value, err := io.ReadAll(part)
		if err != nil {
			return
		}
		if _, seen := fields[name]; !seen {
			fields[name] = string(value)
		}
	}
}

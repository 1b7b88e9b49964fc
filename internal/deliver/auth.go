package deliver

import (
	"encoding/base64"
	"net/http"

	"github.com/sluicehq/sluice"
)

// authenticate adds to the headers of a delivery to d what d's receiver
// asks for: d's static headers, then the Authorization of its auth. Only
// the dispatcher calls it, on what NewRequest built: `sluice listen` is
// handed the signed request alone, never a destination's credentials (and
// a listen destination has none, see sluice.Destination.Validate).
//
// A static header never replaces one Sluice set: the request already
// holds the signature's and the transport's, and a name Sluice came to set
// after the header was stored is skipped too.
func authenticate(h http.Header, d *sluice.Destination) {
	for name, v := range d.Headers {
		if sluice.HeaderSetBySluice(name) || h.Get(name) != "" {
			continue
		}
		h.Set(name, v)
	}
	switch a := d.Auth; a.Type {
	case sluice.AuthBasic:
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(a.Username+":"+a.Password)))
	case sluice.AuthBearer:
		h.Set("Authorization", "Bearer "+a.Token)
	}
}

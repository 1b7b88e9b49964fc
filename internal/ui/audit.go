package ui

import (
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/auditlog"
)

// auditPageSize is how many entries the audit page shows at a time.
const auditPageSize = 50

// maxBackTrail is how many earlier pages the audit page's "Newer" link
// can lead back through; past that the oldest are forgotten.
const maxBackTrail = 100

// firstPage stands for the first page, which has no cursor, in a back
// trail.
const firstPage = "-"

// auditView is the audit page: the filter as the form gave it, a page of
// entries with names, and links to the pages around it.
type auditView struct {
	// The form's values, kept as given.
	Actor, Action, ResourceID, Since, Until string
	Keys                                    []*sluice.APIKey // the tenant's, by name, for the actor select
	ActorGone                               bool             // the actor filtered by is no key of the tenant's now
	Invalid                                 string           // why the filter is refused; no entries then
	Entries                                 []auditRow
	filter                                  string // the query of the filter alone, for the links
	// CSV is the download of the filtered log; Older and Newer are the
	// pages around this one, "" where there is none. Each is built by
	// url.Values.Encode, escaped already.
	CSV, Older, Newer template.URL
	Prefixes          []string // action prefixes the form suggests
}

// auditRow is an entry with the names of its actor and resource, "" for
// those that are gone.
type auditRow struct {
	*sluice.AuditEntry
	ActorName, ResourceName string
}

// actionPrefixes are the families of actions the form suggests.
var actionPrefixes = []string{"destination.", "source.", "key.", "tenant.", "event.", "subject.", "session.", "pseudonym."}

// auditForm reads the audit page's filter from the query: the form's
// values as given, and the filter, or why it is refused (the store's
// message, naming the field as the API's parameter).
func auditForm(q url.Values) (auditView, sluice.AuditFilter) {
	v := auditView{Actor: q.Get("actor_key_id"), Action: strings.TrimSpace(q.Get("action")),
		ResourceID: strings.TrimSpace(q.Get("resource_id")), Since: q.Get("since"), Until: q.Get("until"),
		Prefixes: actionPrefixes}
	f := sluice.AuditFilter{ActorKeyID: v.Actor, Action: v.Action, ResourceID: v.ResourceID}
	for _, b := range []struct {
		name, text string
		to         *time.Time
	}{{"since", v.Since, &f.Since}, {"until", v.Until, &f.Until}} {
		if b.text == "" {
			continue
		}
		t, err := time.Parse(timeInput, b.text)
		if err != nil {
			v.Invalid = b.name + ": must be a date and time (UTC)"
			return v, f
		}
		*b.to = t
	}
	if err := f.Validate(); err != nil {
		v.Invalid = sluice.ErrorMessage(err)
	}
	filter := url.Values{}
	for _, p := range [][2]string{{"actor_key_id", v.Actor}, {"action", v.Action}, {"resource_id", v.ResourceID},
		{"since", v.Since}, {"until", v.Until}} {
		if p[1] != "" {
			filter.Set(p[0], p[1])
		}
	}
	v.filter = filter.Encode()
	v.CSV = template.URL("/ui/audit.csv?" + v.filter)
	return v, f
}

// backTrail reads the cursors of the pages before this one, oldest first
// (firstPage for the first); a trail of anything else is dropped.
func backTrail(s string) []string {
	if s == "" {
		return nil
	}
	trail := strings.Split(s, ",")
	for _, c := range trail {
		if c != firstPage && !sluice.ValidID(c) {
			return nil
		}
	}
	return trail
}

// auditPage shows the tenant's audit log, newest first, filtered by actor,
// action, resource and time, a page at a time, with the names of the keys
// and resources beside their ids. The names are read once a page.
func (h *Handler) auditPage(w http.ResponseWriter, r *http.Request, s *session) {
	ctx, tenant, q := r.Context(), s.key.TenantID, r.URL.Query()
	v, f := auditForm(q)
	names, err := auditlog.LoadNames(ctx, h.cfg.Store, tenant)
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	v.Keys = slices.Clone(names.Keys)
	slices.SortStableFunc(v.Keys, func(a, b *sluice.APIKey) int { return strings.Compare(a.Name, b.Name) })
	v.ActorGone = v.Actor != "" && !slices.ContainsFunc(v.Keys, func(k *sluice.APIKey) bool { return k.ID == v.Actor })
	cursor := q.Get("cursor")
	if cursor != "" && !sluice.ValidID(cursor) {
		v.Invalid = "cursor: not a page of this log; start again from the first page"
	}
	if v.Invalid != "" {
		h.render(w, r, s, http.StatusBadRequest, "audit.html", v)
		return
	}
	entries, next, err := h.cfg.Store.AuditEntries(ctx, tenant, f, sluice.Page{Limit: auditPageSize, Cursor: cursor})
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	for _, e := range entries {
		v.Entries = append(v.Entries, auditRow{AuditEntry: e, ActorName: names.Of(e.ActorKeyID),
			ResourceName: names.Of(e.ResourceID)})
	}
	trail := backTrail(q.Get("back"))
	if next != "" {
		here := cursor
		if here == "" {
			here = firstPage
		}
		older := append(slices.Clone(trail), here)
		if len(older) > maxBackTrail {
			older = older[len(older)-maxBackTrail:]
		}
		v.Older = pageQuery(v.filter, next, older)
	}
	if n := len(trail); n > 0 {
		prev := trail[n-1]
		if prev == firstPage {
			prev = ""
		}
		v.Newer = pageQuery(v.filter, prev, trail[:n-1])
	}
	h.render(w, r, s, http.StatusOK, "audit.html", v)
}

// pageQuery is the address of one page of the filtered log: the filter,
// the page's cursor and the trail of the pages before it.
func pageQuery(filter, cursor string, trail []string) template.URL {
	q, _ := url.ParseQuery(filter) // Encode made it
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if len(trail) > 0 {
		q.Set("back", strings.Join(trail, ","))
	}
	return template.URL("/ui/audit?" + q.Encode())
}

// auditCSV downloads every entry of the tenant's audit log the filter
// matches, as GET /v1/audit?format=csv gives it.
func (h *Handler) auditCSV(w http.ResponseWriter, r *http.Request, s *session) {
	v, f := auditForm(r.URL.Query())
	if v.Invalid != "" {
		h.render(w, r, s, http.StatusBadRequest, "error.html", errorView{Message: v.Invalid})
		return
	}
	if err := auditlog.ServeCSV(w, r, h.cfg.Store, s.key.TenantID, f, h.cfg.Logger); err != nil {
		h.fail(w, r, s, err)
	}
}

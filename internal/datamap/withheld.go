package datamap

import (
	"slices"
	"strings"

	"github.com/sluicehq/sluice"
)

// Withheld is what a flow's destination is not sent because its tenant
// restricts it as personal data (sluice.RestrictedData) and the
// destination has no personal data grant: the restricted paths the flow's
// events were seen to carry, the source's subject paths of a restricted
// type, and the restricted subject types indexed in its events.
type Withheld struct {
	Paths        []string `json:"paths"`
	SubjectTypes []string `json:"subject_types"`
}

// addWithheld sets, on each flow of m to a destination without a grant,
// what the policy withholds from it; a flow withheld nothing keeps none.
func addWithheld(m *Map, policy sluice.RestrictedData, sources []*sluice.Source, dests []*sluice.Destination,
	obs []*sluice.Observation) {
	if policy.Empty() {
		return
	}
	granted := map[string]bool{}
	for _, d := range dests {
		granted[d.ID] = d.PersonalData.Allowed
	}
	subjectPaths := map[string][]sluice.SubjectPath{}
	for _, s := range sources {
		subjectPaths[s.ID] = s.SubjectPaths
	}
	for i := range m.Sources {
		s := &m.Sources[i]
		for j := range s.Flows {
			f := &s.Flows[j]
			if granted[f.DestinationID] {
				continue
			}
			w := withheldOf(policy, s.ID, f.EventType, subjectPaths[s.ID], obs)
			if len(w.Paths) > 0 || len(w.SubjectTypes) > 0 {
				f.Withheld = w
			}
		}
	}
}

// withheldOf is what the policy withholds of a source's events of a type.
func withheldOf(policy sluice.RestrictedData, sourceID, eventType string, subjectPaths []sluice.SubjectPath,
	obs []*sluice.Observation) *Withheld {
	w := &Withheld{Paths: []string{}, SubjectTypes: []string{}}
	add := func(list *[]string, v string) {
		if !slices.Contains(*list, v) {
			*list = append(*list, v)
		}
	}
	for _, p := range subjectPaths {
		if policy.HasSubjectType(p.Type) && !strings.HasPrefix(p.Path, "header:") {
			add(&w.Paths, p.Path)
		}
	}
	for _, o := range obs {
		if o.SourceID != sourceID || o.EventType != eventType {
			continue
		}
		switch o.Kind {
		case sluice.ObservedField:
			for _, p := range policy.Paths {
				if sluice.PathCovers(p, o.Name) {
					add(&w.Paths, p)
				}
			}
		case sluice.ObservedSubject:
			if policy.HasSubjectType(o.Name) {
				add(&w.SubjectTypes, o.Name)
			}
		}
	}
	slices.Sort(w.Paths)
	slices.Sort(w.SubjectTypes)
	return w
}

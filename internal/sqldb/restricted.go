package sqldb

import (
	"encoding/json"
	"fmt"

	"github.com/sluicehq/sluice"
)

// EncodeSubjectPaths encodes an event's subject paths for the
// events.subject_paths column, as sources keep theirs (subjectPathJSON):
// where the payload carries a subject and its type, never its value; NULL
// for none.
func EncodeSubjectPaths(paths []sluice.SubjectPath) *string {
	if len(paths) == 0 {
		return nil
	}
	out := make([]subjectPathJSON, len(paths))
	for i, p := range paths {
		out[i] = subjectPathJSON(p)
	}
	b, _ := json.Marshal(out) // strings only: it cannot fail
	s := string(b)
	return &s
}

// DecodeSubjectPaths decodes the events.subject_paths column.
func DecodeSubjectPaths(s *string) ([]sluice.SubjectPath, error) {
	if s == nil || *s == "" {
		return nil, nil
	}
	var in []subjectPathJSON
	if err := json.Unmarshal([]byte(*s), &in); err != nil {
		return nil, fmt.Errorf("decode subject paths: %w", err)
	}
	out := make([]sluice.SubjectPath, len(in))
	for i, p := range in {
		out[i] = sluice.SubjectPath(p)
	}
	return out, nil
}

package storekit

import (
	"fmt"

	"github.com/sluicehq/sluice"
)

// Observe stores the event's observations through insert, which reports
// whether it inserted one (false: the store had it), and sets in.Drift to
// the field paths new for a source and type seen before: the first
// observation, of the type, tells whether it was.
func Observe(in *sluice.NewEvent, insert func(o sluice.Observation) (bool, error)) error {
	in.Drift = nil
	typeSeenBefore := false
	for i, o := range in.Observations {
		isNew, err := insert(o)
		if err != nil {
			return fmt.Errorf("observe: %w", err)
		}
		switch {
		case i == 0 && o.Kind == sluice.ObservedType:
			typeSeenBefore = !isNew
		case isNew && typeSeenBefore && o.Kind == sluice.ObservedField:
			in.Drift = append(in.Drift, o.Name)
		}
	}
	return nil
}

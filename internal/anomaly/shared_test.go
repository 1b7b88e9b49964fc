package anomaly

import (
	"strings"
	"testing"
	"time"
)

// sharedCounts stands for the database processes share their counts in:
// it adds what each shares and answers the totals since a time.
type sharedCounts map[Count]int // by Key and Part, N zero

func (s sharedCounts) share(d *Detector, now time.Time) {
	for _, c := range d.Unshared() {
		s[Count{Key: c.Key, Part: c.Part}] += c.N
	}
	var totals []Count
	for k, n := range s {
		if !k.Part.Before(d.Since(now)) {
			totals = append(totals, Count{Key: k.Key, Part: k.Part, N: n})
		}
	}
	d.Merge(totals, now)
}

// Two processes each seeing half of a burst, neither enough alone, find it
// once they have shared their counts, and count their own events once.
func TestBurstAcrossProcesses(t *testing.T) {
	newDetector := func() *Detector {
		return &Detector{Window: time.Second, Factor: 5, MinBurst: 20, Warmup: 1, AuthFailures: 10, Cooldown: time.Minute}
	}
	a, b, db := newDetector(), newDetector(), sharedCounts{}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a.Event("t", "src", "x", now)
	b.Event("t", "src", "x", now)
	now = now.Add(time.Second)
	for i := range 12 {
		at := now.Add(time.Duration(i) * 10 * time.Millisecond)
		for _, d := range []*Detector{a, b} {
			if burst, _ := d.Event("t", "src", "x", at); burst {
				t.Fatal("half a burst raised an alert")
			}
			if alert, _ := d.AuthFailure("t", "src", at); alert && i < 9 {
				t.Fatal("verification failures alerted before sharing")
			}
		}
	}
	at := now.Add(200 * time.Millisecond)
	db.share(a, at)
	db.share(b, at)
	db.share(a, at) // a learns of b's counts only now
	burst, detail := a.Event("t", "src", "x", at)
	if !burst || !strings.HasPrefix(detail, "25 events") {
		t.Fatalf("after sharing: burst %v, %q; want 12 + 12 + 1 = 25 events", burst, detail)
	}
	// b has not shared since a's last event: it counts 24 and its own.
	if burst, detail := b.Event("t", "src", "x", at); !burst || !strings.HasPrefix(detail, "25 events") {
		t.Fatalf("b after sharing: burst %v, %q", burst, detail)
	}
	// Sharing again adds nothing twice.
	db.share(a, at)
	db.share(b, at)
	db.share(a, at)
	if got := a.rates[burstKey("t", "src", "x")].sliding(); got != 26 {
		t.Fatalf("a counts %d events in the window, want 26", got)
	}
}

// A key counted by other processes only is kept, with their counts.
func TestMergeOtherProcessesKey(t *testing.T) {
	d := &Detector{Window: time.Second}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	key := failureKey("t", "src")
	d.Merge([]Count{{Key: key, Part: now, N: 4}, {Key: key, Part: now.Add(-100 * time.Millisecond), N: 3},
		{Key: key, Part: now.Add(-time.Second), N: 50}, {Key: "other", Part: now, N: 9}}, now)
	if got := d.failures[key].sliding(); got != 7 {
		t.Fatalf("merged %d failures, want 4 + 3 (the part a window ago has slid out)", got)
	}
	if len(d.Unshared()) != 0 {
		t.Fatal("merged counts came back as this process's own")
	}
}

package anomaly

import (
	"testing"
	"time"
)

func TestBurst(t *testing.T) {
	d := &Detector{Window: time.Second, Factor: 5, MinBurst: 20, Warmup: 3, Cooldown: time.Minute}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for w := range 6 { // a steady 5 a second
		for i := range 5 {
			if burst, _ := d.Event("t", "src", "order.paid", now.Add(time.Duration(w)*time.Second+time.Duration(i)*time.Millisecond)); burst {
				t.Fatalf("a steady rate is a burst (window %d)", w)
			}
		}
	}
	at := now.Add(6 * time.Second)
	bursts := 0
	for i := range 60 {
		if burst, detail := d.Event("t", "src", "order.paid", at.Add(time.Duration(i)*time.Millisecond)); burst {
			bursts++
			if i < 20 || detail == "" {
				t.Fatalf("burst at event %d (%q): before the window passed 5x the baseline and MinBurst", i, detail)
			}
		}
	}
	if bursts != 1 {
		t.Fatalf("%d burst alerts, want 1 (then the cooldown)", bursts)
	}
	// Another type of the same source has its own baseline.
	if burst, _ := d.Event("t", "src", "order.refunded", at); burst {
		t.Fatal("another type inherited the burst")
	}
}

func TestBurstNeedsWarmup(t *testing.T) {
	d := &Detector{Window: time.Second, MinBurst: 10}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 100 {
		if burst, _ := d.Event("t", "", "x", now.Add(time.Duration(i)*time.Millisecond)); burst {
			t.Fatal("a key's first window raised a burst: there is no baseline yet")
		}
	}
}

func TestAuthFailures(t *testing.T) {
	d := &Detector{Window: time.Second, AuthFailures: 10, Cooldown: time.Minute}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for w := range 3 { // 9 a second never pile up to 10 within one
		for i := range 9 {
			if alert, _ := d.AuthFailure("t", "src", now.Add(time.Duration(w)*time.Second+time.Duration(i)*time.Millisecond)); alert {
				t.Fatalf("alert at %d failures in a window", i+1)
			}
		}
	}
	at := now.Add(3 * time.Second)
	alerts := 0
	for i := range 30 {
		if alert, _ := d.AuthFailure("t", "src", at.Add(time.Duration(i)*time.Millisecond)); alert {
			alerts++
			if i != 9 {
				t.Fatalf("alert at failure %d, want the 10th", i+1)
			}
		}
	}
	if alerts != 1 {
		t.Fatalf("%d alerts, want 1", alerts)
	}
	if alert, _ := d.AuthFailure("t", "other", at); alert {
		t.Fatal("another source inherited the failures")
	}
}

// A burst that straddles two fixed windows, half in each, is still one
// window's worth of events: the window slides.
func TestBurstAcrossWindows(t *testing.T) {
	d := &Detector{Window: 10 * time.Second, Factor: 5, MinBurst: 50, Warmup: 3, Cooldown: time.Minute}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for w := range 4 { // one event a window
		if burst, _ := d.Event("t", "src", "x", now.Add(time.Duration(w)*10*time.Second)); burst {
			t.Fatal("a steady rate is a burst")
		}
	}
	edge := now.Add(50 * time.Second) // a fixed window's boundary
	alerts := 0
	for i := range 60 { // 30 in the last 3 s before it, 30 in the first 3 s after
		at := edge.Add(-3*time.Second + time.Duration(i)*100*time.Millisecond)
		if burst, _ := d.Event("t", "src", "x", at); burst {
			alerts++
			if i < 50 {
				t.Fatalf("burst at event %d, before 50 were within a window", i+1)
			}
		}
	}
	if alerts != 1 {
		t.Fatalf("%d alerts for a burst straddling two windows, want 1", alerts)
	}
}

// Verification failures pile up across a window's boundary too, and those
// that slid out of the window no longer count.
func TestAuthFailuresAcrossWindows(t *testing.T) {
	d := &Detector{Window: 10 * time.Second, AuthFailures: 10, Cooldown: time.Minute}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 9 { // 9 in the window's last second, then the 10th 11 s later
		if alert, _ := d.AuthFailure("t", "a", now.Add(9*time.Second+time.Duration(i)*100*time.Millisecond)); alert {
			t.Fatalf("alert at failure %d", i+1)
		}
	}
	if alert, _ := d.AuthFailure("t", "a", now.Add(20*time.Second)); alert {
		t.Fatal("failures that slid out of the window still counted")
	}
	for i := range 10 { // 5 before the boundary at 30 s, 5 after
		alert, _ := d.AuthFailure("t", "b", now.Add(28*time.Second+time.Duration(i)*400*time.Millisecond))
		if alert != (i == 9) {
			t.Fatalf("failure %d: alert %v", i+1, alert)
		}
	}
}

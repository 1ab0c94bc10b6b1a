package console

import (
	"net/http/httptest"
	"testing"
	"time"
)

// Issue 21: each user's requests are bounded; one user past its budget is told when to
// come back while another user goes on, and a large page of logs costs more than a
// small request. On main a user could send the user API as many requests as it liked.
func TestUserRequestBudget(t *testing.T) {
	u := &userRates{lim: RequestLimits{PerSecond: 2, Burst: 4}}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 4 {
		if _, ok := u.take("alice", 1, t0); !ok {
			t.Fatalf("request %d within the burst refused", i)
		}
	}
	wait, ok := u.take("alice", 1, t0)
	if ok || wait <= 0 || wait > time.Second {
		t.Fatalf("a fifth request at once: allowed %v, wait %v; want a wait of about half a second", ok, wait)
	}
	if _, ok := u.take("bob", 1, t0); !ok {
		t.Fatal("another user was refused for alice's requests")
	}
	if _, ok := u.take("alice", 1, t0.Add(time.Second)); !ok {
		t.Fatal("alice still refused once her bucket refilled")
	}
	for q, want := range map[string]int{"": 1, "?limit=10": 1, "?limit=1000": 1, "?limit=1001": 2, "?limit=5000": 5, "?follow=true&limit=5000": 1} {
		if got := logPageCost(httptest.NewRequest("GET", "/logs"+q, nil)); got != want {
			t.Errorf("logs%s costs %d, want %d", q, got, want)
		}
	}
}

package console

import (
	"encoding/base64"
	"testing"
	"time"
)

func TestTokenExpiry(t *testing.T) {
	jwt := func(payload string) string {
		return "eyJhbGciOiJSUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(payload)) + ".sig"
	}
	for _, tc := range []struct {
		token string
		want  time.Time
		ok    bool
	}{
		{jwt(`{"exp":1900000000,"sub":"system:serviceaccount:a:b"}`), time.Unix(1900000000, 0), true},
		{jwt(`{"exp":1.9e9}`), time.Unix(1900000000, 0), true},
		{jwt(`{"sub":"x"}`), time.Time{}, false},
		{jwt(`{"exp":"soon"}`), time.Time{}, false},
		{jwt(`not json`), time.Time{}, false},
		{"a-static-token", time.Time{}, false},
		{"a.b.c", time.Time{}, false},
	} {
		got, ok := tokenExpiry(tc.token)
		if ok != tc.ok || !got.Equal(tc.want) {
			t.Errorf("tokenExpiry(%q) = %v, %v; want %v, %v", tc.token, got, ok, tc.want, tc.ok)
		}
	}
}

func TestFollowLimitsOr(t *testing.T) {
	got := FollowLimits{PerUser: 2}.Or(DefaultFollowLimits)
	if got.PerUser != 2 || got.PerNamespace != 64 || got.AccessRecheck != 30*time.Second {
		t.Errorf("Or = %+v", got)
	}
}

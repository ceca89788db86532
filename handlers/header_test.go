package handlers

import (
	"net/http"
	"testing"
)

func TestCleanHeader(t *testing.T) {
	h := http.Header{
		"Authorization":     {""},
		"Connection":        {"keep-alive"},
		"Transfer-Encoding": {"chunked"},
		"Content-Length":    {"3"},
		"X-Keyid":           {"k"},
	}
	CleanHeader(h)
	want := http.Header{"X-Keyid": {"k"}}
	if len(h) != len(want) || h.Get("X-Keyid") != "k" {
		t.Errorf("CleanHeader = %v, want %v", h, want)
	}
	h = http.Header{"Authorization": {"Hawk id=\"x\""}}
	CleanHeader(h)
	if h.Get("Authorization") == "" {
		t.Error("non-empty Authorization dropped")
	}
}

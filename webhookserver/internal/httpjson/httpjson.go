// Package httpjson writes the JSON answers every webhookserver listener shares, among
// them the error body of every AIAS HTTP API: {"error": "...", "reason": "..."}.
package httpjson

import (
	"encoding/json"
	"net/http"
)

// ErrorBody is the JSON error body of every AIAS HTTP API.
type ErrorBody struct {
	Error  string `json:"error"`
	Reason string `json:"reason"`
}

// Write answers status with v as JSON.
func Write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Error answers status with an ErrorBody: reason is a CamelCase word for programs, msg
// a sentence for people.
func Error(w http.ResponseWriter, status int, reason, msg string) {
	Write(w, status, ErrorBody{Error: msg, Reason: reason})
}

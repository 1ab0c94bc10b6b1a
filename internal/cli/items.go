package cli

import (
	"fmt"
	"sort"
	"strings"

	"github.com/aias-dev/aias/internal/userapi"
)

// itemPhases is the order a forEach step's counts read in: what is done, what runs,
// what waits, then what went wrong.
var itemPhases = []string{"Succeeded", "Running", "Retrying", "Pending", "Failed", "Canceled", "Skipped"}

// itemsSummary says how a forEach step's items stand, "12 items: 8 succeeded, 3
// running, 1 failed"; "" for any other step. A phase this CLI does not know (a newer
// server's) still counts, after the others.
func itemsSummary(s userapi.Step) string {
	if s.ItemTotal == 0 {
		return ""
	}
	var parts []string
	known := map[string]bool{}
	for _, p := range itemPhases {
		known[p] = true
		if n := s.ItemCounts[p]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, strings.ToLower(p)))
		}
	}
	var other []string
	for p, n := range s.ItemCounts {
		if !known[p] && n > 0 {
			other = append(other, fmt.Sprintf("%d %s", n, strings.ToLower(p)))
		}
	}
	sort.Strings(other)
	noun := "items"
	if s.ItemTotal == 1 {
		noun = "item"
	}
	return fmt.Sprintf("%d %s: %s", s.ItemTotal, noun, strings.Join(append(parts, other...), ", "))
}

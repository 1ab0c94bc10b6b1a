package controllers

import (
	"fmt"
	"testing"
	"time"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// The manager's decoded-spec cache stays bounded however many Workflow versions it meets.
func TestSpecCacheIsBounded(t *testing.T) {
	var c specCache
	for i := range 3 * maxCachedSpecs {
		c.put(fmt.Sprintf("sha256:%064d", i), &aiasv1alpha1.WorkflowSpec{}, time.Time{})
	}
	if n := c.len(); n > maxCachedSpecs {
		t.Errorf("%d specs cached, want at most %d", n, maxCachedSpecs)
	}
	if c.get(fmt.Sprintf("sha256:%064d", 3*maxCachedSpecs-1)) == nil {
		t.Error("the most recent spec was evicted")
	}
}

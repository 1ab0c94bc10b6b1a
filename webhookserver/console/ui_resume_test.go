package console

import (
	"encoding/json"
	"testing"
)

// ui/js/resume.js decides whether a run's page offers Resume and how a cached step reads
// (its DAG node says "cached", its message where its outputs come from). It uses no DOM,
// so Node.js runs it as is (without node the test is skipped).
func TestUIResumeModule(t *testing.T) {
	script := `
import { cachedMessage, cachedText, canResume, isCached } from './resume.mjs';
const from = (run, step, attempt) => ({ run, step, attempt });
const resumed = { name: 'parse', phase: 'Succeeded', cachedFrom: from('r1', 'parse', 1) };
const retried = { name: 'fetch', phase: 'Succeeded', cachedFrom: from('r1', 'fetch', 3), message: '2 artifacts' };
const hit = { name: 'hit', phase: 'Succeeded', cachedFrom: from('r0', 'hit', 1), message: 'cached from r0/hit (attempt 1)' };
const ran = { name: 'count', phase: 'Failed', message: 'exit code 2' };
console.log(JSON.stringify({
  resumable: ['Failed', 'Canceled', 'Succeeded', 'Rejected', 'Running', 'Waiting', 'Pending', undefined].map((phase) => canResume({ phase })),
  none: canResume(null),
  cached: [isCached(resumed), isCached(ran), isCached(undefined), isCached({ cachedFrom: null })],
  texts: [cachedText(resumed), cachedText(retried), cachedText(ran)],
  messages: [cachedMessage(resumed), cachedMessage(retried), cachedMessage(hit), cachedMessage(ran), cachedMessage({ name: 'x' }), cachedMessage(undefined)],
}));
`
	out := runUIModule(t, "resume", script)
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("node printed %s: %v", out, err)
	}
	want := map[string]string{
		"resumable": `[true,true,false,false,false,false,false,false]`,
		"none":      `false`,
		"cached":    `[true,false,false,false]`,
		"texts":     `["cached from r1/parse","cached from r1/fetch (attempt 3)",""]`,
		"messages":  `["cached from r1/parse","cached from r1/fetch (attempt 3); 2 artifacts","cached from r0/hit (attempt 1)","exit code 2","",""]`,
	}
	for k, w := range want {
		b, _ := json.Marshal(got[k])
		if string(b) != w {
			t.Errorf("%s = %s, want %s", k, b, w)
		}
	}
}

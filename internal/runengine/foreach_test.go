package runengine

import (
	"strings"
	"testing"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"k8s.io/utils/ptr"
	"time"
)

// fanInput is a Run of "list" (succeeded with the result list) then "fan", a forEach
// over that result with the given parallelism; fan's status and attempts are given.
func fanInput(list []any, fan aiasv1alpha1.WorkflowStep, fanStatus aiasv1alpha1.StepStatus, attempts ...Attempt) Input {
	in := input([]aiasv1alpha1.WorkflowStep{step("list"), fan},
		[]aiasv1alpha1.StepStatus{{Name: "list", Phase: aiasv1alpha1.StepSucceeded, Attempts: 1, OutputDigest: "sha256:list"}, fanStatus}, attempts...)
	in.Values = Values{Results: map[string]any{"list": list}, Loaded: map[string]bool{"list": true}}
	return in
}

func fanStep(parallelism int32) aiasv1alpha1.WorkflowStep {
	s := step("fan")
	s.ForEach, s.Args = "steps.list.result", []string{"$(item)"}
	if parallelism > 0 {
		s.Parallelism = ptr.To(parallelism)
	}
	return s
}

// items is a fanned-out step's status with items in the given phases (P R r S F K:
// Pending Running Retrying Succeeded Failed Skipped), each on attempt 1 unless pending.
func items(name, phases string) aiasv1alpha1.StepStatus {
	byLetter := map[rune]aiasv1alpha1.StepPhase{'P': aiasv1alpha1.StepPending, 'R': aiasv1alpha1.StepRunning, 'r': aiasv1alpha1.StepRetrying,
		'S': aiasv1alpha1.StepSucceeded, 'F': aiasv1alpha1.StepFailed, 'K': aiasv1alpha1.StepSkipped}
	st := aiasv1alpha1.StepStatus{Name: name, Phase: aiasv1alpha1.StepRunning}
	for _, c := range phases {
		it := aiasv1alpha1.ItemStatus{Phase: byLetter[c]}
		if c != 'P' {
			it.Attempts = 1
		}
		if c == 'F' {
			it.Message = "boom"
		}
		st.Items = append(st.Items, it)
	}
	return st
}

func itemLetters(st aiasv1alpha1.StepStatus) string {
	letter := map[aiasv1alpha1.StepPhase]string{aiasv1alpha1.StepPending: "P", aiasv1alpha1.StepRunning: "R", aiasv1alpha1.StepRetrying: "r",
		aiasv1alpha1.StepSucceeded: "S", aiasv1alpha1.StepFailed: "F", aiasv1alpha1.StepSkipped: "K"}
	var b strings.Builder
	for _, it := range st.Items {
		b.WriteString(letter[it.Phase])
	}
	return b.String()
}

func TestDecideForEach(t *testing.T) {
	five := []any{"a", "b", "c", "d", "e"}
	item := func(k int) string { return aiasv1alpha1.ItemStepName("fan", k) }
	withLimit := func(in Input, n int) Input { in.ItemsPerStep = n; return in }
	withAggregate := func(in Input) Input {
		in.Aggregated = map[string]ResultArray{"fan": {Digest: "sha256:array"}}
		return in
	}
	continuing := fanStep(2)
	continuing.ContinueOnItemFailure = true
	retried := withRetries(fanStep(2), 1, 0)
	byField := fanStep(0)
	byField.Args = []string{"$(item.name)"}
	cases := []struct {
		name       string
		in         Input
		wantPhase  aiasv1alpha1.StepPhase
		wantItems  string
		wantStarts []string
		wantMsg    string
		aggregate  bool
	}{{
		name:       "fans out and starts as many items as parallelism allows",
		in:         fanInput(five, fanStep(2), st("fan", aiasv1alpha1.StepPending, 0)),
		wantPhase:  aiasv1alpha1.StepRunning,
		wantItems:  "RRPPP",
		wantStarts: []string{item(0), item(1)},
	}, {
		name:       "an item that ends frees its place for the next",
		in:         fanInput(five, fanStep(2), items("fan", "RRPPP"), succeeded(item(0), 1, t0), running(item(1), 1)),
		wantPhase:  aiasv1alpha1.StepRunning,
		wantItems:  "SRRPP",
		wantStarts: []string{item(2)},
	}, {
		name:      "an item waiting for its retry keeps its place",
		in:        fanInput(five, retried, items("fan", "RRPPP"), failed(item(0), 1, t0.Add(time.Hour), End{Report: &Report{ExitCode: 1, Message: "flaky"}}), running(item(1), 1)),
		wantPhase: aiasv1alpha1.StepRunning,
		wantItems: "rRPPP",
	}, {
		name:      "an item that failed stops the fan-out: no new item starts while others run",
		in:        fanInput(five, fanStep(2), items("fan", "RRPPP"), failed(item(0), 1, t0, End{Report: &Report{ExitCode: 3, Message: "boom"}}), running(item(1), 1)),
		wantPhase: aiasv1alpha1.StepRunning,
		wantItems: "FRPPP",
	}, {
		name:      "once the running items ended, the step fails naming the item; the rest are skipped",
		in:        fanInput(five, fanStep(2), items("fan", "FRPPP"), succeeded(item(1), 1, t0)),
		wantPhase: aiasv1alpha1.StepFailed,
		wantItems: "FSKKK",
		wantMsg:   "item 0 failed: boom",
	}, {
		name:      "continueOnItemFailure: all items ended, the step asks for its result array",
		in:        fanInput(five, continuing, items("fan", "SFSSR"), succeeded(item(4), 1, t0)),
		wantPhase: aiasv1alpha1.StepRunning,
		wantItems: "SFSSS",
		aggregate: true,
	}, {
		name:      "continueOnItemFailure: with its result array written the step succeeds and lists the failed items",
		in:        withAggregate(fanInput(five, continuing, items("fan", "SFSSS"))),
		wantPhase: aiasv1alpha1.StepSucceeded,
		wantItems: "SFSSS",
		wantMsg:   "1 of 5 items failed (continueOnItemFailure): 1",
	}, {
		name:      "a list longer than the plan allows fails the step before any item",
		in:        withLimit(fanInput(five, fanStep(2), st("fan", aiasv1alpha1.StepPending, 0)), 3),
		wantPhase: aiasv1alpha1.StepFailed,
		wantMsg:   `forEach "steps.list.result" yields 5 items, more than the 3 a step may fan out to (the plan's itemsPerStep)`,
	}, {
		name:      "an item missing a referenced field fails the step before any item",
		in:        fanInput([]any{map[string]any{"name": "x"}, "y"}, byField, st("fan", aiasv1alpha1.StepPending, 0)),
		wantPhase: aiasv1alpha1.StepFailed,
		wantMsg:   "item 1: args[0]: $(item.name): the item is a string, it has no field name",
	}, {
		name:       "an item created before a crash is adopted, not started again",
		in:         fanInput(five, fanStep(2), st("fan", aiasv1alpha1.StepPending, 0), running(item(0), 1)),
		wantPhase:  aiasv1alpha1.StepRunning,
		wantItems:  "RRPPP",
		wantStarts: []string{item(1)},
	}, {
		name:      "an empty list asks for its (empty) result array at once",
		in:        fanInput([]any{}, fanStep(2), st("fan", aiasv1alpha1.StepPending, 0)),
		wantPhase: aiasv1alpha1.StepRunning,
		aggregate: true,
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(tc.in)
			fan := d.Steps[1]
			if fan.Phase != tc.wantPhase || itemLetters(fan) != tc.wantItems || fan.Message != tc.wantMsg {
				t.Errorf("fan = %s items %q %q, want %s items %q %q", fan.Phase, itemLetters(fan), fan.Message, tc.wantPhase, tc.wantItems, tc.wantMsg)
			}
			var starts []string
			for _, s := range d.Starts {
				starts = append(starts, s.Step)
				if s.Item < 0 || s.Step != item(s.Item) {
					t.Errorf("start %+v: item and name disagree", s)
				}
			}
			if strings.Join(starts, ",") != strings.Join(tc.wantStarts, ",") {
				t.Errorf("starts = %v, want %v", starts, tc.wantStarts)
			}
			if got := len(d.Aggregate) > 0; got != tc.aggregate {
				t.Errorf("aggregate = %v, want %v", d.Aggregate, tc.aggregate)
			}
			if tc.wantPhase == aiasv1alpha1.StepSucceeded && fan.OutputDigest != "sha256:array" {
				t.Errorf("output digest %q, want the result array's", fan.OutputDigest)
			}
		})
	}
}

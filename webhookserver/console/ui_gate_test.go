package console

import (
	"encoding/json"
	"testing"
)

// ui/js/gate.js decides what an approval gate's DAG node says, how a decision reads and
// whether the signed-in user is among a gate's approvers (the console then shows no
// buttons). It uses no DOM, so Node.js runs it as is (without node the test is skipped).
func TestUIGateModule(t *testing.T) {
	script := `
import { amongApprovers, approversText, decisionText, gateLabel, gateMessage, isGate, shortUser } from './gate.mjs';
const gate = { message: 'ship it?', onTimeout: 'Reject', approvers: [{ kind: 'User', name: 'alice' }, { kind: 'Group', name: 'release' }] };
const waiting = { name: 'prod', phase: 'Waiting', message: 'waiting for approval: ship it?', gate };
const approved = { name: 'prod', phase: 'Succeeded', gate: {}, approval: { decision: 'Approved', by: 'system:serviceaccount:acme:alice', comment: 'LGTM' } };
const timedOut = { name: 'prod', phase: 'Failed', gate: {}, approval: { decision: 'Rejected', timedOut: true } };
const pending = { name: 'prod', phase: 'Pending', gate: {} };
const unread = { name: 'prod', phase: 'Waiting', message: 'waiting for approval: from the status' }; // no frozen spec read
const plain = { name: 'build', phase: 'Running' };
console.log(JSON.stringify({
  gates: [isGate(waiting), isGate(pending), isGate(unread), isGate(plain), isGate(undefined)],
  labels: [gateLabel(waiting), gateLabel(approved), gateLabel(timedOut), gateLabel(pending), gateLabel(plain)],
  decisions: [decisionText(approved.approval), decisionText(approved.approval, true), decisionText(timedOut.approval),
    decisionText({ decision: 'Rejected', by: 'bob' }), decisionText(undefined)],
  messages: [gateMessage(waiting), gateMessage(unread), gateMessage(plain), gateMessage({ message: 'waiting for approval' })],
  approvers: [approversText(gate), approversText({}), approversText(undefined)],
  among: [amongApprovers(gate, { user: 'alice' }), amongApprovers(gate, { user: 'carol', groups: ['release'] }),
    amongApprovers(gate, { user: 'carol', groups: ['dev'] }), amongApprovers({ approvers: [] }, { user: 'carol' }), amongApprovers(gate, null)],
  users: [shortUser('system:serviceaccount:acme:alice'), shortUser('alice@example.com'), shortUser(undefined)],
}));
`
	out := runUIModule(t, "gate", script)
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("node printed %s: %v", out, err)
	}
	want := map[string]string{
		"gates":     `[true,true,true,false,false]`,
		"labels":    `["waiting for approval","approved by alice","rejected on timeout","approval gate · Pending",""]`,
		"decisions": `["approved by system:serviceaccount:acme:alice","approved by alice","rejected on timeout","rejected by bob",""]`,
		"messages":  `["ship it?","from the status","",""]`,
		"approvers": `["User alice, Group release","",""]`,
		"among":     `[true,true,false,true,true]`,
		"users":     `["alice","alice@example.com",""]`,
	}
	for k, w := range want {
		b, _ := json.Marshal(got[k])
		if string(b) != w {
			t.Errorf("%s = %s, want %s", k, b, w)
		}
	}
}
